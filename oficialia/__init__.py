"""The mail-room domain: intake, folios, receipts, tracking, catalogue, users and the web/API."""

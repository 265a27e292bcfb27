# Oficialía de Partes Electrónica — the image behind `web` and `worker` in compose.yaml.
#
#   docker build -t oficialia .
#
# The application runs from /app (templates/, static/, migrations/ and node_modules/ are found
# next to app.py); `pip install .` brings the pinned dependencies of pyproject.toml.

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    FLASK_APP=app

# OCR (OCRmyPDF: tesseract with Spanish and English, ghostscript, unpaper, pngquant), qpdf, and
# node/npm for the front-end libraries. No browser: chromium is only for the test suite.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        fonts-dejavu-core tesseract-ocr tesseract-ocr-spa tesseract-ocr-eng ghostscript unpaper pngquant qpdf nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, in their own layer: they change far less often than the code.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Front-end libraries (Bootstrap), exactly as locked; served by the app from node_modules/.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force

COPY . .
RUN pip install . \
    && rm -rf build ./*.egg-info

# Runs unprivileged; the code stays owned by root and read-only to the application. The instance
# folder is the only place it may write (with OFICIALIA_SECRET_KEY and the S3 storage set, as in
# compose.yaml, it stays empty).
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin oficialia \
    && mkdir -p /app/instance \
    && chown oficialia:oficialia /app/instance
USER oficialia

EXPOSE 8000

CMD ["gunicorn", "-w", "4", "-b", "0.0.0.0:8000", "app:create_app()"]

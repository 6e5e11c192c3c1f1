"""The one way to deploy, tried: the systemd units verify against this checkout; gunicorn started with
deploy/gunicorn.conf.py and the production settings serves the site, writes one JSON line per request and adds
up the metrics of its processes; nginx with deploy/nginx/loyalty.conf (where nginx is installed) serves static
files and hands the rest to gunicorn over HTTPS with X-Forwarded-Proto and X-Forwarded-For."""

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import PRODUCTION, ROOT, environment, fetch, free_port, manage, wait_until

DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").iterdir())
HOST = "loyalty.example.com"


def render(text: str, **replacements: str) -> str:
    for old, new in replacements.items():
        text = text.replace(old, new)
    return text


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_the_systemd_units_verify_against_this_checkout(tmp_path):
    """Rendered with this checkout in place of /srv/loyalty (where ExecStart's programs must exist), every unit
    passes `systemd-analyze verify` without a warning."""
    assert {unit.name for unit in UNITS} >= {
        "loyalty-web.service",
        "loyalty-worker.service",
        "loyalty-worker-extra@.service",
        "loyalty-backup.service",
        "loyalty-backup.timer",
    }
    (tmp_path / "env").write_text("DJANGO_SECRET_KEY=x\n")
    names = []
    for unit in UNITS:
        text = render(unit.read_text(), **{"/srv/loyalty": str(ROOT), "/etc/loyalty/env": str(tmp_path / "env")})
        name = unit.name.replace("@.", "@01.")  # a template is verified as an instance
        (tmp_path / name).write_text(text)
        names.append(name)
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", *names], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_every_unit_runs_the_site_with_the_production_settings_and_the_environment_file():
    for unit in UNITS:
        if unit.suffix != ".service":
            continue
        text = unit.read_text()
        assert "Environment=DJANGO_SETTINGS_MODULE=loyalty_site.settings.production" in text, unit.name
        assert "EnvironmentFile=/etc/loyalty/env" in text, unit.name
        assert "User=loyalty" in text, unit.name
    worker, extra = (DEPLOY / "systemd" / name for name in ("loyalty-worker.service", "loyalty-worker-extra@.service"))
    assert "run_huey --no-periodic" not in worker.read_text()  # the one worker that runs the periodic jobs
    assert "run_huey --no-periodic" in extra.read_text()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """gunicorn as the web unit starts it (two processes), on a migrated SQLite database, with static files
    collected and the metrics of its processes in a folder of their own."""
    folder = tmp_path_factory.mktemp("site")
    variables = {
        **PRODUCTION,
        "DJANGO_SETTINGS_MODULE": "loyalty_site.settings.production",
        "DATABASE_URL": f"sqlite:///{folder / 'site.sqlite3'}",
        "TASK_QUEUE_URL": f"sqlite:///{folder / 'queue.sqlite3'}",
        "LOYALTY_PROXY_COUNT": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics"),
        "WEB_CONCURRENCY": "2",
    }
    port = free_port()
    static = folder / "static"
    variables.update(GUNICORN_BIND=f"127.0.0.1:{port}", DJANGO_STATIC_ROOT=str(static))
    for command in (["migrate", "--noinput"], ["createcachetable"]):
        result = manage(*command, timeout=300, **variables)
        assert result.returncode == 0, result.stderr
    collected = manage("collectstatic", "--noinput", "-v0", **variables)
    assert collected.returncode == 0, collected.stderr
    log = (folder / "gunicorn.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "--config",
            str(DEPLOY / "gunicorn.conf.py"),
            "loyalty_site.wsgi:application",
        ],
        cwd=ROOT,
        env=environment(**variables),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: server.poll() is not None or _answers(url),
            seconds=60,
            what="gunicorn answers",
        )
        assert server.poll() is None, (folder / "gunicorn.log").read_text()
        yield {"url": url, "port": port, "folder": folder, "log": folder / "gunicorn.log", "static": static}
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def _answers(url: str) -> bool:
    try:
        fetch(f"{url}/healthz", {"Host": HOST}, timeout=2)
    except OSError:
        return False
    return True


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def samples(body: bytes) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


# HEAD requests: only this test makes them (the fixture's readiness checks are GETs, and one that timed out
# under load may still be answered after the first scrape).
HEALTH_OK = (
    "django_http_responses_total_by_status_view_method_total",
    (("method", "HEAD"), ("status", "200"), ("view", "healthz")),
)


def test_gunicorn_serves_the_site_with_one_json_line_per_request(site):
    status, headers, body = fetch(
        f"{site['url']}/healthz", {"Host": HOST, "X-Forwarded-Proto": "https", "X-Request-ID": "deploy-1"}
    )
    assert (status, json.loads(body)) == (200, {"status": "ok", "database": "ok", "migrations": "applied"})
    assert headers["X-Request-ID"] == "deploy-1"
    assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    lines = wait_until(
        lambda: [line for line in log_lines(site["log"]) if line.get("request_id") == "deploy-1"],
        seconds=10,
        what="the request's log line",
    )
    [line] = lines
    assert line["event"] == "request_finished" and line["code"] == 200 and line["request"] == "GET /healthz"
    assert line["level"] == "info" and line["timestamp"].endswith("Z")
    assert not [line for line in log_lines(site["log"]) if line.get("event") == "request_started"]
    # gunicorn's own lines are JSON too: every line of the log is one object.
    text = site["log"].read_text()
    assert len(log_lines(site["log"])) == len(text.splitlines())
    assert [line for line in log_lines(site["log"]) if line["logger"] == "gunicorn.error"]


def test_metrics_add_up_every_gunicorn_process(site):
    headers = {"Host": HOST}
    before = samples(fetch(f"{site['url']}/metrics", headers)[2])
    for _ in range(30):
        assert fetch(f"{site['url']}/healthz", {**headers, "X-Forwarded-Proto": "https"}, method="HEAD")[0] == 200
    status, _, body = fetch(f"{site['url']}/metrics", headers)
    assert status == 200
    assert samples(body)[HEALTH_OK] == before.get(HEALTH_OK, 0) + 30
    # Both processes keep figures of their own (a file each), which every scrape adds up.
    writers = {path.name.split("_")[-1] for path in (site["folder"] / "metrics").glob("counter_*.db")}
    assert len(writers) == 2
    # A scrape through a proxy is refused without the token.
    assert fetch(f"{site['url']}/metrics", {**headers, "X-Forwarded-For": "203.0.113.9"})[0] == 403


NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
OPENSSL = shutil.which("openssl")


def nginx_main_configuration(folder: Path) -> str:
    """What /etc/nginx/nginx.conf gives the site's file, with every path nginx writes inside `folder`."""
    temporary = "".join(
        f"  {kind}_temp_path {folder}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        # As root, nginx's worker processes would otherwise run as nobody, who cannot read the test's folders.
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
        + f"http {{\n  include /etc/nginx/mime.types;\n  access_log off;\n{temporary}"
        + f"  include {folder}/site.conf;\n}}\n"
    )


@pytest.mark.skipif(NGINX is None or OPENSSL is None, reason="nginx is not installed (apt-get install nginx-light)")
def test_nginx_serves_static_files_and_hands_the_rest_over_https_to_the_site(site, tmp_path):
    https_port, http_port = free_port(), free_port()
    subprocess.run(
        [
            OPENSSL,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={HOST}",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    conf = render(
        (DEPLOY / "nginx" / "loyalty.conf").read_text(),
        **{
            "listen [::]:80;": "",
            "listen [::]:443 ssl http2;": "",
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            "/etc/letsencrypt/live/loyalty.example.com/fullchain.pem": str(tmp_path / "cert.pem"),
            "/etc/letsencrypt/live/loyalty.example.com/privkey.pem": str(tmp_path / "key.pem"),
            "/srv/loyalty/staticfiles/": f"{site['static']}/",
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{site['port']};",
        },
    )
    (tmp_path / "site.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(nginx_main_configuration(tmp_path))
    checked = subprocess.run(
        [NGINX, "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stderr
    proxy = subprocess.Popen(
        [NGINX, "-c", str(tmp_path / "nginx.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    https = f"https://127.0.0.1:{https_port}"
    try:
        wait_until(lambda: _https_answers(https, insecure), seconds=20, what="nginx answers")
        # Plain HTTP is sent to HTTPS by nginx itself.
        status, headers, _ = _get(f"http://127.0.0.1:{http_port}/till/", None)
        assert (status, headers["Location"]) == (301, f"https://{HOST}/till/")
        # Through nginx over HTTPS, the site knows the request is secure (X-Forwarded-Proto): it answers, with
        # HSTS, and the request id nginx made up comes back.
        status, headers, body = _get(f"{https}/healthz", insecure, {"X-Forwarded-For": "203.0.113.66"})
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])
        # The client forged X-Forwarded-For; with LOYALTY_PROXY_COUNT=1 the site takes the address nginx saw.
        line = wait_until(
            lambda: [entry for entry in log_lines(site["log"]) if entry.get("request_id") == headers["X-Request-ID"]],
            seconds=10,
            what="the proxied request's log line",
        )[0]
        assert line["ip"] == "127.0.0.1"
        # A client's own request id passes through.
        assert _get(f"{https}/healthz", insecure, {"X-Request-ID": "till-12-0042"})[1]["X-Request-ID"] == "till-12-0042"
        # Static files come from disk, not from gunicorn (no request line for them).
        status, headers, body = _get(f"{https}/static/css/site.css", insecure)
        assert status == 200 and body == (ROOT / "static" / "css" / "site.css").read_bytes()
        assert "X-Request-ID" not in headers and headers["Content-Type"].startswith("text/css")
        assert not [entry for entry in log_lines(site["log"]) if "/static/" in entry.get("request", "")]
        # Metrics are not for the world, even through the proxy.
        assert _get(f"{https}/metrics", insecure)[0] == 403
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str, context, headers: dict | None = None) -> tuple[int, dict, bytes]:
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, headers={"Host": HOST, **(headers or {})})  # noqa: S310 (loopback only)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _https_answers(url: str, context) -> bool:
    try:
        _get(f"{url}/healthz", context)
    except OSError:
        return False
    return True


def test_the_environment_file_template_with_a_secret_passes_check_deploy_through_the_wrapper(tmp_path):
    """deploy/loyalty.env, given a secret key, is a complete production configuration: deploy/manage.sh runs
    manage.py with it (and the production settings) as the site's user, and `check --deploy` is clean."""
    template = (DEPLOY / "loyalty.env").read_text()
    secret = "k" * 20 + "-a-long-random-secret-for-this-test-only-" + "q" * 10
    (tmp_path / "env").write_text(template.replace("DJANGO_SECRET_KEY=\n", f"DJANGO_SECRET_KEY={secret}\n"))
    variables = {"LOYALTY_ENV_FILE": str(tmp_path / "env")}
    if os.geteuid() == 0:
        variables["LOYALTY_USER"] = "root"  # no `loyalty` account on a test machine
    result = subprocess.run(
        [str(DEPLOY / "manage.sh"), "check", "--deploy", "--fail-level", "WARNING"],
        env=environment(**variables),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    shown = subprocess.run(
        [
            str(DEPLOY / "manage.sh"),
            "shell",
            "-c",
            "from django.conf import settings as s; "
            "print(s.TIME_ZONE, s.LOYALTY_PROXY_COUNT, s.CACHES['default']['LOCATION'])",
        ],
        env=environment(**variables),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.stdout.split("\n")[-2] == "America/New_York 1 loyalty_cache", shown.stderr

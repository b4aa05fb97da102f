"""Every number, URL and name a command takes is checked by the parser: a bad
one is a usage error naming the flag and the allowed values (exit 2), before
any model is loaded."""

import http.server
import io
import sys
import threading

import pytest

from nlp_lstm import cli

BAD_ARGUMENTS = [
    (["translate", "--model", "m", "--beam-size", "0"], "--beam-size", "from 1 to 64"),
    (["translate", "--model", "m", "--beam-size", "-3"], "--beam-size", "from 1 to 64"),
    (["translate", "--model", "m", "--beam-size", "1000"], "--beam-size", "1 to 64"),
    (["translate", "--model", "m", "--batch-size", "0"], "--batch-size", ">= 1"),
    (["translate", "--model", "m", "--threads", "0"], "--threads", ">= 1"),
    (["tag", "--model", "m", "--batch-size", "x"], "--batch-size", "'x'"),
    (["evaluate", "--model", "m", "--beam-size", "65"], "--beam-size", "1 to 64"),
    (["export-tflite", "--model", "m", "--output", "o.tflite", "--beam-size", "0"],
     "--beam-size", "1 to 64"),
    (["export-tflite", "--model", "m", "--output", "o.tflite", "--max-tokens", "0"],
     "--max-tokens", ">= 1"),
    (["tflite-run", "--model", "m", "--threads", "0"], "--threads", ">= 1"),
    (["serving", "client", "--model", "m", "--url", "notaurl"], "--url", "http://"),
    (["serving", "client", "--model", "m", "--url", "ftp://h"], "--url", "http://"),
    (["serving", "client", "--model", "m", "--retries", "-1"], "--retries", ">= 0"),
    (["serving", "client", "--model", "m", "--timeout", "nan"], "--timeout", "above 0"),
    (["serving", "client", "--model", "m", "--version", "0"], "--version", ">= 1"),
    (["serving", "export", "runs/x", "--name", "../../x"], "--name", "folder name"),
    (["serving", "export", "runs/x", "--name", ".."], "--name", "folder name"),
]


@pytest.mark.parametrize("argv, flag, allowed", BAD_ARGUMENTS)
def test_bad_arguments_are_usage_errors(argv, flag, allowed, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {flag}:" in error and allowed in error, error


class _NotJSON(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b"<html>hello</html>" if b"bad" in self.path.encode() else b"[1, 2]"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_client_reports_a_reply_that_is_not_json_per_line(monkeypatch, capsys):
    """A server (or a proxy) answering HTTP 200 with HTML: each line gets an
    `error: line N` message and an empty output line; the command carries on
    and exits 1."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotJSON)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        for model, reason in [("bad", "is not JSON"), ("list", "not a JSON object")]:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a\nb\n")))
            status = cli.main(
                ["serving", "client", "--url", url, "--model", model, "--retries", "0"]
            )
            captured = capsys.readouterr()
            assert status == 1 and captured.out == "\n\n"
            errors = captured.err.strip().splitlines()
            assert errors[0].startswith("error: line 1:") and reason in errors[0]
            assert errors[1].startswith("error: line 2:")
            assert errors[-1] == "error: 2 line(s) failed"
    finally:
        server.shutdown()

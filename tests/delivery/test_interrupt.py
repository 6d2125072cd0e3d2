"""Ctrl-C (or SIGTERM, or Ctrl-C twice, or Ctrl-C to the whole process group as a terminal sends it) while an
urgent alert is on its way: the request in flight gets a short grace to finish, the run says "interrupted" in one
line, and the next run does not send the alert again, to nobody who has it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import PROJECT
from tests.support.clock import child_env
from tests.support.fake_telegram import FakeTelegram
from tests.support.faultserver import feeds_yaml
from tests.support.localsite import LocalSite, Page, article_html, rss
from tests.support.smtp_sink import SmtpSink
from tests.support.terminal import foreground

TITLE = "Pamiri activists detained in Khorog"
STORY = ["Security forces detained two Pamiri activists in Khorog, GBAO, on Wednesday night after they criticised "
         "the regional governor online, relatives said.",
         "The activists' phones were confiscated and their families were warned not to speak to journalists."]


def _monitor(tmp_path, feeds, channel: dict[str, str], command: tuple[str, ...] = ("run", "--once"),
             group: bool = False) -> subprocess.Popen:
    env = child_env({"PYTHONPATH": str(PROJECT), **channel})
    return subprocess.Popen([sys.executable, "-m", "monitor", *command, "--feeds", str(feeds), "--keywords",
                             str(PROJECT / "keywords.yaml"), "--state", str(tmp_path / "state.db")],
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=group,  # a process group of its own, as a terminal's job has
                            preexec_fn=foreground)  # Ctrl-C reaches it, however the suite was started


def _site(site: LocalSite, tmp_path):
    site.add("/s/1", article_html(TITLE, STORY))
    site.add("/feed.xml", Page(rss("Feed", [{"title": TITLE, "path": "/s/1"}], base=site.base).encode(),
                               content_type="application/rss+xml"))
    return feeds_yaml(tmp_path / "feeds.yaml", [("Feed", site.url("/feed.xml"))])


def _stopped_cleanly(proc: subprocess.Popen, err: str) -> None:
    assert proc.returncode == 130, err
    for noise in ("Traceback", "KeyboardInterrupt", "never retrieved", "Exception ignored"):
        assert noise not in err, err
    interrupted = [line for line in err.splitlines() if "interrupted" in line.lower()]
    assert len(interrupted) == 1, err


def _stop_mid_send(tmp_path, signals: list[int], *, group: bool = False, apart: float = 0.4) -> str:
    """Send `signals` (`apart` seconds apart) while the alert is in flight; returns the run's stderr after
    checking that the next run sends the alert to nobody a second time."""
    with LocalSite() as site, FakeTelegram(delay=1.5) as tg:
        feeds = _site(site, tmp_path)
        proc = _monitor(tmp_path, feeds, tg.env(), group=group)
        try:
            assert tg.arrived.wait(60), "the alert was never sent"
            for i, sig in enumerate(signals):  # the request is in flight: the fake answers after 1.5 s
                time.sleep(apart if i else 0)
                os.killpg(proc.pid, sig) if group else proc.send_signal(sig)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        _stopped_cleanly(proc, err)
        tg.delay = 0.0
        again = _monitor(tmp_path, feeds, tg.env())
        _, err2 = again.communicate(timeout=60)
        assert again.returncode == 0, err2
    alerts = [m for m in tg.messages if TITLE in m["visible"]]
    assert len(alerts) == 1, [m["visible"][:80] for m in tg.messages]
    return err


def test_ctrl_c_during_a_telegram_send_finishes_that_request_and_the_next_run_sends_nothing_twice(tmp_path):
    _stop_mid_send(tmp_path, [signal.SIGINT])


def test_sigterm_during_a_send_gets_the_same_grace_as_ctrl_c(tmp_path):
    _stop_mid_send(tmp_path, [signal.SIGTERM])  # `systemctl stop`


def test_ctrl_c_twice_to_the_process_group_keeps_the_grace_and_says_so_in_one_line(tmp_path):
    err = _stop_mid_send(tmp_path, [signal.SIGINT, signal.SIGINT], group=True)  # the workers get both too
    again = [line for line in err.splitlines() if "already stopping" in line]
    assert len(again) == 1 and "message in flight" in again[0], err


def test_an_email_partly_delivered_in_the_grace_is_owed_to_the_deferred_recipient_alone(tmp_path):
    with LocalSite() as site, SmtpSink(stall_limit=5.0) as sink:
        feeds = _site(site, tmp_path)
        sink.refuse_recipient("grey@example.org", "450 4.7.1 greylisted")
        sink.stall(after_receipt=True)  # the message is taken, its 250 comes only after the Ctrl-C
        channel = sink.env(to="a@example.org, grey@example.org")
        proc = _monitor(tmp_path, feeds, channel)
        try:
            assert sink.stalled.wait(60), "the alert was never sent"
            proc.send_signal(signal.SIGINT)
            time.sleep(0.5)
            sink.release()
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        _stopped_cleanly(proc, err)
        sink.refused_recipients.clear()
        flush = _monitor(tmp_path, feeds, channel, command=("flush",))
        out, err2 = flush.communicate(timeout=60)
        assert flush.returncode == 0, err2
    assert [rcpts for _, rcpts, _ in sink.envelopes] == [["a@example.org"], ["grey@example.org"]], err + err2


def test_ctrl_c_while_two_channels_send_gives_each_its_grace_and_nothing_goes_twice(tmp_path):
    """The Telegram request ends first; the mail, taken by the server, gets its 250 a second later: both are
    recorded as sent, so the next run sends neither again."""
    with LocalSite() as site, FakeTelegram(delay=1.0) as tg, SmtpSink(stall_limit=10.0) as sink:
        feeds = _site(site, tmp_path)
        sink.stall(after_receipt=True)
        proc = _monitor(tmp_path, feeds, {**tg.env(), **sink.env(to="a@example.org")})
        try:
            assert tg.arrived.wait(60) and sink.stalled.wait(60), "the alert was never sent on both channels"
            proc.send_signal(signal.SIGINT)
            time.sleep(2.0)  # Telegram has answered by now; the mail has not
            sink.release()
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        _stopped_cleanly(proc, err)
        tg.delay = 0.0
        flush = _monitor(tmp_path, feeds, {**tg.env(), **sink.env(to="a@example.org")}, command=("flush",))
        out, err2 = flush.communicate(timeout=60)
        assert flush.returncode == 0 and "flush: 0 message(s) sent, 0 still queued" in out, out + err2
    assert len([m for m in tg.messages if TITLE in m["visible"]]) == 1
    assert len(sink.envelopes) == 1, err


class SlowSmtp:
    """An SMTP server that answers every line `delay` seconds late: each reply comes within the client's timeout,
    only the session as a whole is slow (a tarpit). It has a message as soon as its final "." arrives."""

    def __init__(self, delay: float):
        self.delay, self.accepted = delay, 0
        self.connected = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    def env(self, timeout: float) -> dict[str, str]:
        return {"MONITOR_SMTP_HOST": "127.0.0.1", "MONITOR_SMTP_PORT": str(self.server.getsockname()[1]),
                "MONITOR_SMTP_SECURITY": "none", "MONITOR_EMAIL_FROM": "alerts@example.org",
                "MONITOR_EMAIL_TO": "desk@example.org", "MONITOR_SMTP_TIMEOUT": f"{timeout:g}"}

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        def reply(text: str) -> None:
            time.sleep(self.delay)
            conn.sendall(text.encode() + b"\r\n")

        self.connected.set()
        with conn, conn.makefile("rb") as lines:
            try:
                reply("220 slow.example ESMTP")
                in_data = False
                for line in lines:
                    if in_data:
                        if line.rstrip(b"\r\n") == b".":
                            in_data, self.accepted = False, self.accepted + 1
                            reply("250 2.0.0 queued")
                        continue
                    verb = line[:4].upper()
                    in_data = verb == b"DATA"
                    reply({b"DATA": "354 go on", b"QUIT": "221 bye"}.get(verb, "250 ok"))
                    if verb == b"QUIT":
                        return
            except OSError:  # the client hung up
                return


@pytest.mark.parametrize("reader", ["MONITOR_EMAIL_TO", "recipients:"])
def test_ctrl_c_during_a_slow_mail_session_ends_it_within_the_grace_and_the_mail_goes_once(tmp_path, reader):
    """Each reply of the server comes 2.5 s late, within the 3 s timeout, so the session would outlast the run's
    10 s grace: it is cut before the message is handed over, and the next run sends it once. The same for a
    reader of feeds.yaml's `recipients:`, whose channel wraps the mail's."""
    with LocalSite() as site:
        feeds = _site(site, tmp_path)
        smtp = SlowSmtp(delay=2.5)
        env = smtp.env(timeout=3)
        if reader == "recipients:":
            del env["MONITOR_EMAIL_TO"]
            feeds.write_text(feeds.read_text(encoding="utf-8") + "recipients:\n  - name: desk\n"
                             "    email: desk@example.org\n", encoding="utf-8")
        proc = _monitor(tmp_path, feeds, env)
        try:
            assert smtp.connected.wait(60), "the alert was never sent"
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        _stopped_cleanly(proc, err)
        assert smtp.accepted == 0, "cut before the server had it"
        smtp.delay = 0.0
        flush = _monitor(tmp_path, feeds, env, command=("flush",))
        out, err2 = flush.communicate(timeout=60)
        assert flush.returncode == 0 and "1 message(s) sent, 0 still queued" in out, out + err2
        time.sleep(0.5)  # the server's own thread after its last reply
        smtp.server.close()
    assert smtp.accepted == 1, err + err2

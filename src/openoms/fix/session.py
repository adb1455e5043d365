"""The FIX 4.4 session layer, sans I/O: logon and logout, heartbeats and test requests, sequence
numbers (persisted through a SessionStore), resend requests and gap fills, sequence resets,
possible duplicates and session-level rejects.

``receive(message)`` takes one parsed message and returns the application messages that are
now in sequence, for the caller to act on; whatever the session itself must send goes to
``outbox`` (bytes) and ``disconnect`` says when the transport should close after writing it.
``timer(now)`` drives heartbeats. No sockets, no clock reads: time is passed in.

Resends: application messages are re-sent as they were (PossDupFlag=Y, OrigSendingTime), from
the store; administrative messages (and anything the store no longer holds) are covered by
SequenceReset-GapFill, as the spec recommends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import codec
from . import tags as t
from .codec import FixMessage
from .schedule import Schedule
from .store import SessionStore

log = logging.getLogger("openoms.fix.session")

MAX_QUEUED = 10_000  # messages held while a gap is being filled; a counterparty that never fills it is logged out
MIN_HEARTBEAT = 1
MAX_HEARTBEAT = 3600


@dataclass(frozen=True, slots=True)
class SessionIdentity:
    """Our CompID and the counterparty's, as they appear in what *we* send."""

    sender_comp_id: str
    target_comp_id: str

    @property
    def key(self) -> str:
        return f"{t.BEGIN_STRING}:{self.sender_comp_id}->{self.target_comp_id}"


class FixSession:
    def __init__(self, identity: SessionIdentity, store: SessionStore, clock_ns: Callable[[], int],
                 schedule: Schedule | None = None) -> None:
        self.identity = identity
        self.schedule = schedule
        self.key = identity.key
        self.store = store
        self.clock_ns = clock_ns
        self.next_out, self.next_in = store.load_seqs(self.key)
        self.outbox: list[bytes] = []
        self.logged_on = False
        self.connected = False
        self.disconnect = False
        self.logout_sent = False
        self.heartbeat_s = 30
        self._queued: dict[int, FixMessage] = {}
        self._answered: set[int] = set()
        self._resend_asked = False
        self._gap_end = 0  # the last seq of the gap our ResendRequest asked for (inclusive)
        self._last_sent = 0
        self._last_received = 0
        self._test_request_sent = 0
        self._logon_sent = False
        self.on_logon: Callable[[], None] | None = None
        # Told how many messages a SequenceReset (gap fill or reset) skipped while logged on: the
        # session cannot tell whether they were application messages, the owner may need to know.
        self.on_skipped: Callable[[int], None] | None = None
        self._prefixes: dict[str, bytes] = {}  # msg type -> the header's constant start (send_app)

    # --- connection -----------------------------------------------------------------------

    def connection_made(self) -> None:
        self.connected = True
        self.logged_on = False
        self.disconnect = False
        self.logout_sent = False
        self._queued.clear()
        self._answered.clear()
        self._resend_asked = False
        self._gap_end = 0
        self._test_request_sent = 0
        self._last_received = self._last_sent = self.clock_ns()
        self._logon_sent = False
        self.outbox.clear()

    def connection_lost(self) -> None:
        self.connected = False
        self.logged_on = False
        self._queued.clear()
        self.outbox.clear()
        self._save()

    # --- inbound --------------------------------------------------------------------------

    def receive(self, message: FixMessage) -> list[FixMessage]:
        """Handle one message; return the application messages now in sequence, in order."""
        now = self.clock_ns()
        self._last_received = now
        self._test_request_sent = 0
        app: list[FixMessage] = []
        self._handle(message, app)
        while self.logged_on and not self.disconnect and self.next_in in self._queued:
            self._handle(self._queued.pop(self.next_in), app)
        if not self._queued and self.next_in > self._gap_end:
            self._resend_asked = False  # the gap is filled: a new one gets a new ResendRequest
        self._save()
        return app

    def _handle(self, message: FixMessage, app: list[FixMessage]) -> None:
        fields = message.fields
        if fields.get(t.BeginString) != t.BEGIN_STRING:
            self._logout(f"Incorrect BeginString {fields.get(t.BeginString, '')!r}: expected {t.BEGIN_STRING}", close=True)
            return
        seq = message.seq
        kind = message.msg_type
        if not self.logged_on:
            if kind != t.LOGON:
                log.warning("%s: first message is %r, not Logon: disconnecting", self.key, kind)
                self.disconnect = True
                return
            self._logon(message)
            return
        if seq is None:
            self._logout("MsgSeqNum(34) missing or not a number", close=True)
            return
        if fields.get(t.SenderCompID) != self.identity.target_comp_id or fields.get(t.TargetCompID) != self.identity.sender_comp_id:
            if seq == self.next_in:
                self.next_in += 1
            self.reject(message, t.COMPID_PROBLEM, t.SenderCompID, "CompID problem")
            self._logout("CompID problem", close=True)
            return
        if kind == t.SEQUENCE_RESET and fields.get(t.GapFillFlag) != "Y":
            self._sequence_reset(message, gap_fill=False)
            return
        if seq > self.next_in:
            if kind == t.RESEND_REQUEST:  # answer at once, or both sides could wait for each other
                self._resend(message)
                self._answered.add(seq)
            if kind == t.LOGOUT:
                self._logout("", close=True)
                return
            if len(self._queued) >= MAX_QUEUED:
                self._logout(f"more than {MAX_QUEUED} messages after a gap at MsgSeqNum {self.next_in} that was never filled", close=True)
                return
            self._queued[seq] = message
            self._gap_end = max(self._gap_end, seq - 1)
            if not self._resend_asked:
                self._resend_asked = True
                self._send_admin(t.RESEND_REQUEST, [(t.BeginSeqNo, str(self.next_in)), (t.EndSeqNo, "0")])
            return
        poss_dup = fields.get(t.PossDupFlag) == "Y"
        if seq < self.next_in:
            if poss_dup:
                if t.OrigSendingTime not in fields:
                    self.reject(message, t.REQUIRED_TAG_MISSING, t.OrigSendingTime, "Required tag missing")
                return  # a duplicate of something already processed: ignored
            self._logout(f"MsgSeqNum too low, expecting {self.next_in} but received {seq}", close=True)
            return
        self.next_in = seq + 1
        if not self._header_ok(message, poss_dup):
            return
        if kind == t.HEARTBEAT:
            return
        if kind == t.TEST_REQUEST:
            test_id = fields.get(t.TestReqID)
            if not test_id:
                self.reject(message, t.REQUIRED_TAG_MISSING, t.TestReqID, "Required tag missing")
                return
            self._send_admin(t.HEARTBEAT, [(t.TestReqID, test_id)])
        elif kind == t.RESEND_REQUEST:
            if seq in self._answered:
                self._answered.discard(seq)  # answered when it arrived ahead of a gap
            else:
                self._resend(message)
        elif kind == t.SEQUENCE_RESET:
            self._sequence_reset(message, gap_fill=True)
        elif kind == t.LOGOUT:
            self._logout("", close=True)
        elif kind == t.REJECT:
            log.warning("%s: counterparty rejected our seq %s: %s (reason %s)", self.key, fields.get(t.RefSeqNum),
                        fields.get(t.Text, ""), fields.get(t.SessionRejectReason, ""))
        elif kind == t.LOGON:
            self.reject(message, t.OTHER, None, "Already logged on")
        elif kind not in t.FIX44_MSG_TYPES:
            self.reject(message, t.INVALID_MSG_TYPE, t.MsgType, "Invalid MsgType")
        else:
            app.append(message)

    def _header_ok(self, message: FixMessage, poss_dup: bool) -> bool:
        """Checks every in-sequence message gets; a failure is rejected (its seq is consumed)."""
        fields = message.fields
        if message.bad_tag is not None:
            self.reject(message, t.INVALID_TAG_NUMBER, None, f"Invalid tag number: {message.bad_tag}")
            return False
        if message.empty:
            self.reject(message, t.TAG_WITHOUT_VALUE, message.empty[0], "Tag specified without a value")
            return False
        if message.repeated & t.HEADER:
            tag = min(message.repeated & t.HEADER)
            self.reject(message, t.TAG_REPEATED, tag, "Tag appears more than once")
            return False
        sending_time = fields.get(t.SendingTime)
        if sending_time is None:
            self.reject(message, t.REQUIRED_TAG_MISSING, t.SendingTime, "Required tag missing")
            return False
        if codec.parse_utc_timestamp(sending_time) is None:
            self.reject(message, t.INCORRECT_DATA_FORMAT, t.SendingTime, "Incorrect data format for value")
            return False
        if poss_dup:
            orig = fields.get(t.OrigSendingTime)
            if orig is None:
                self.reject(message, t.REQUIRED_TAG_MISSING, t.OrigSendingTime, "Required tag missing")
                return False
            if orig > sending_time:  # both are fixed-width UTC text: text order is time order
                self.reject(message, t.SENDING_TIME_ACCURACY, t.OrigSendingTime, "OrigSendingTime is after SendingTime")
                self._logout("SendingTime accuracy problem", close=True)
                return False
        return True

    def _logon(self, message: FixMessage) -> None:
        fields = message.fields
        seq = message.seq
        heartbeat = fields.get(t.HeartBtInt, "")
        if seq is None:
            self._logout("Logon without a valid MsgSeqNum(34)", close=True)
            return
        if not heartbeat.isdigit() or not MIN_HEARTBEAT <= int(heartbeat) <= MAX_HEARTBEAT:
            self._logout(f"HeartBtInt(108) must be {MIN_HEARTBEAT}-{MAX_HEARTBEAT} seconds, got {heartbeat!r}", close=True)
            return
        if fields.get(t.EncryptMethod, "0") != "0":
            self._logout("EncryptMethod(98) must be 0 (none)", close=True)
            return
        if self.schedule is not None:
            now = self.clock_ns()
            period = self.schedule.period(now)
            if period is None:
                holiday = self.schedule.closed_on(now)
                why = f"closed on {holiday.isoformat()} (holiday)" if holiday is not None else "outside the session's hours"
                self._logout(f"{why} ({self.schedule.describe()})", close=True)
                return
            if self.store.period(self.key) != period:  # a new day's session: sequence numbers start again
                self.store.reset(self.key)
                self.next_in = self.next_out = 1
                self.store.set_period(self.key, period)
        reset = fields.get(t.ResetSeqNumFlag) == "Y"
        initiated = self._logon_sent
        if reset and not initiated:
            self.store.reset(self.key)
            self.next_in = 1
            self.next_out = 1
        elif reset and initiated:
            self.next_in = 1  # the answer to our own reset: our side was reset when we sent it
        if seq < self.next_in:
            self._logout(f"MsgSeqNum too low, expecting {self.next_in} but received {seq}", close=True)
            return
        self.heartbeat_s = int(heartbeat)
        self.logged_on = True
        if not initiated:
            body = [(t.EncryptMethod, "0"), (t.HeartBtInt, heartbeat)]
            if reset:
                body.append((t.ResetSeqNumFlag, "Y"))
            self._send_admin(t.LOGON, body)
        log.info("%s: logged on (their seq %d, expected %d; our next %d)", self.key, seq, self.next_in, self.next_out)
        if seq > self.next_in:
            self._resend_asked = True
            self._gap_end = seq - 1
            self._send_admin(t.RESEND_REQUEST, [(t.BeginSeqNo, str(self.next_in)), (t.EndSeqNo, "0")])
        else:
            self.next_in = seq + 1
        if self.on_logon is not None:
            self.on_logon()

    def _sequence_reset(self, message: FixMessage, gap_fill: bool) -> None:
        new_seq = message.fields.get(t.NewSeqNo, "")
        if not new_seq.isdigit():
            self.reject(message, t.REQUIRED_TAG_MISSING if not new_seq else t.INCORRECT_DATA_FORMAT, t.NewSeqNo,
                        "NewSeqNo(36) missing or not a number")
            return
        target = int(new_seq)
        if target < self.next_in:
            self.reject(message, t.VALUE_INCORRECT, t.NewSeqNo,
                        f"Attempt to lower sequence number, invalid value NewSeqNo={target} (expected >= {self.next_in})")
            return
        # A gap fill stands for the messages from its own MsgSeqNum up to NewSeqNo; a reset for
        # those from the one we expected.
        skipped = target - (message.seq or target) if gap_fill else target - self.next_in
        self.next_in = target
        for stale in [seq for seq in self._queued if seq < target]:
            del self._queued[stale]
        if skipped > 0 and self.on_skipped is not None:
            self.on_skipped(skipped)

    def _resend(self, message: FixMessage) -> None:
        fields = message.fields
        begin_text, end_text = fields.get(t.BeginSeqNo, ""), fields.get(t.EndSeqNo, "")
        if not begin_text.isdigit() or not end_text.isdigit():
            tag = t.BeginSeqNo if not begin_text.isdigit() else t.EndSeqNo
            missing = not (begin_text if tag == t.BeginSeqNo else end_text)
            self.reject(message, t.REQUIRED_TAG_MISSING if missing else t.INCORRECT_DATA_FORMAT, tag,
                        "Required tag missing" if missing else "Incorrect data format for value")
            return
        begin, end = int(begin_text), int(end_text)
        last = self.next_out - 1
        if end == 0 or end > last:
            end = last
        begin = max(begin, 1)
        if begin > end:
            return
        now = codec.utc_timestamp(self.clock_ns())
        cursor = begin
        for seq, msg_type, sending_time, body in self.store.outbound(self.key, begin, end):
            if seq > cursor:
                self._gap_fill(cursor, seq, now)
            self._write(codec.encode(msg_type, self.identity.sender_comp_id, self.identity.target_comp_id, seq, now,
                                     body, poss_dup=True, orig_sending_time=sending_time))
            cursor = seq + 1
        if cursor <= end:
            self._gap_fill(cursor, end + 1, now)

    def _gap_fill(self, seq: int, new_seq: int, now: str) -> None:
        self._write(codec.encode(t.SEQUENCE_RESET, self.identity.sender_comp_id, self.identity.target_comp_id, seq, now,
                                 [(t.GapFillFlag, "Y"), (t.NewSeqNo, str(new_seq))], poss_dup=True, orig_sending_time=now))

    # --- outbound -------------------------------------------------------------------------

    def initiate_logon(self, heartbeat_s: int, reset: bool) -> None:
        """We are the initiator (a venue connection): send Logon; its answer completes the logon."""
        if reset:
            self.store.reset(self.key)
            self.next_out = self.next_in = 1
        self.heartbeat_s = heartbeat_s
        body = [(t.EncryptMethod, "0"), (t.HeartBtInt, str(heartbeat_s))]
        if reset:
            body.append((t.ResetSeqNumFlag, "Y"))
        self._send_admin(t.LOGON, body)
        self._logon_sent = True
        self._save()

    def send_app(self, msg_type: str, body: Sequence[tuple[int, str]]) -> None:
        """Send (or, while the counterparty is away, keep for its ResendRequest) an application message."""
        seq = self.next_out
        self.next_out += 1
        clock = self.clock_ns()
        now = codec.utc_timestamp(clock)
        encoded = codec.encode_body(body)
        self.store.add_outbound(self.key, seq, msg_type, now, encoded)
        self.store.set_seqs(self.key, self.next_out, self.next_in)
        if self.logged_on:
            prefix = self._prefixes.get(msg_type)
            if prefix is None:
                prefix = self._prefixes[msg_type] = codec.header_prefix(msg_type, self.identity.sender_comp_id,
                                                                        self.identity.target_comp_id)
            self.outbox.append(codec.encode_prefixed(prefix, seq, now, encoded))
            self._last_sent = clock

    def reject(self, message: FixMessage, reason: int, tag: int | None, text: str) -> None:
        """Session-level Reject (35=3) of ``message``."""
        body: list[tuple[int, str]] = [(t.RefSeqNum, str(message.seq or 0))]
        if tag is not None:
            body.append((t.RefTagID, str(tag)))
        if message.msg_type:
            body.append((t.RefMsgType, message.msg_type))
        body += [(t.SessionRejectReason, str(reason)), (t.Text, text)]
        log.info("%s: rejecting seq %s (%s): %s", self.key, message.seq, message.msg_type, text)
        self._send_admin(t.REJECT, body)

    def logout(self, text: str = "") -> None:
        """Start a clean logout (the counterparty answers; then the transport closes)."""
        if self.logged_on and not self.logout_sent:
            self._logout(text, close=False)

    def timer(self, now: int) -> None:
        """Heartbeat when quiet; TestRequest when the counterparty is; disconnect if it stays so."""
        if not self.logged_on or self.disconnect:
            return
        if self.schedule is not None and self.schedule.period(now) != self.store.period(self.key):
            self.logout(f"end of the session ({self.schedule.describe()})")
            self._save()
            return
        interval = self.heartbeat_s * 1_000_000_000
        if self._test_request_sent and now - self._test_request_sent >= interval:
            log.warning("%s: no answer to TestRequest: disconnecting", self.key)
            self.disconnect = True
            return
        if not self._test_request_sent and now - self._last_received >= interval * 6 // 5:
            self._test_request_sent = now
            self._send_admin(t.TEST_REQUEST, [(t.TestReqID, f"TEST-{now}")])
        elif now - self._last_sent >= interval:
            self._send_admin(t.HEARTBEAT, [])
        self._save()

    def _logout(self, text: str, close: bool) -> None:
        if self.connected and not self.logout_sent:
            self._send_admin(t.LOGOUT, [(t.Text, text)] if text else [])
            self.logout_sent = True
        if text:
            log.warning("%s: logout: %s", self.key, text)
        if close:
            self.disconnect = True
        self._save()

    def _send_admin(self, msg_type: str, body: list[tuple[int, str]]) -> None:
        seq = self.next_out
        self.next_out += 1
        self._write(codec.encode(msg_type, self.identity.sender_comp_id, self.identity.target_comp_id, seq,
                                 codec.utc_timestamp(self.clock_ns()), body))

    def _write(self, data: bytes) -> None:
        self.outbox.append(data)
        self._last_sent = self.clock_ns()

    def _save(self) -> None:
        self.store.set_seqs(self.key, self.next_out, self.next_in)

"""Sync client against a registry stand-in: receipts applied only when genuine, every bad answer refused.

Each bad answer leaves every record pending (nothing lost) and raises SyncError
with a short reason; the caller backs off."""

import asyncio
import gc

from fwtest import raises, tmpdir
from storekit import open_store, plaintext, record_id
from synckit import SECRET, FakeRegistry, Secrets, http_reply, receipt_mac, record_id_of, signed
from firmware import cbor
from firmware.clock import Clock
from firmware.store.journal import CONFLICT
from firmware.net import protocol
from firmware.sync.backoff import Backoff
from firmware.sync.client import Client, SyncError



# The registry stand-in (synckit: its HTTP parsing and CBOR answers) runs in the device heap
# here, about 3 KB of code and garbage the device never holds; the whole-device tests run the
# sync at 100 KB with the registry outside (tests/host/sim).
MP_HEAPSIZE = "110k"

class FixedRaw:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


def setup(n=5, batch=16):
    path = tmpdir()
    store, audit, _ = open_store(path)
    for i in range(n):
        store.save(record_id(i), plaintext(i))
    reg = FakeRegistry()
    clock = Clock(path, FixedRaw(1000))
    client = Client(store, Secrets(), clock, reg.connect, "registry.test", audit, batch)
    return store, reg, client, clock, path


def run(coro):
    return asyncio.run(coro)


def test_sync_fixes_the_clock_then_uploads_everything_in_batches():
    store, reg, client, clock, _ = setup(n=20, batch=8)
    assert run(client.sync()) == 20
    assert store.counts()["pending"] == 0 and store.counts()["synced"] == 20
    assert [r.path for r in reg.requests] == ["/v1/time"] + ["/v1/batches"] * 3
    assert reg.connections == 1  # one kept-alive connection (one TLS handshake) for the whole sync
    assert clock.synced and clock.now() == reg.time_now
    first = reg.requests[1]
    assert len(first.records()) == 8 and first.headers["x-enrol-device"] == Secrets.device_id
    # the request signature covers method, path, device, time, nonce and the body hash
    import hashlib

    expect = protocol.request_signature(SECRET, "POST", "/v1/batches", Secrets.device_id,
                                        first.headers["x-enrol-time"], first.headers["x-enrol-nonce"],
                                        hashlib.sha256(first.body).digest())
    assert first.headers["x-enrol-signature"] == expect
    assert int(first.headers["content-length"]) == len(first.body)
    assert run(client.sync()) == 0  # nothing pending: no batch sent
    assert len(reg.requests) == 4


def test_a_dropped_idle_connection_is_reopened_once():
    store, reg, client, clock, _ = setup(n=4, batch=2)
    seen = []

    def drop_second(req):  # the server drops the kept-alive connection instead of answering
        seen.append(req.path)
        return b"" if len(seen) == 2 else reg.normal_answer(req)

    reg.reply_for = drop_second
    assert run(client.sync()) == 4 and reg.connections == 2 and len(seen) == 4


def test_connection_close_from_the_server_is_honoured():
    store, reg, client, clock, _ = setup(n=4, batch=2)

    def close_each(req):
        raw = reg.normal_answer(req)
        return raw.replace(b"HTTP/1.1 200 X\r\n", b"HTTP/1.1 200 X\r\nConnection: close\r\n", 1)

    reg.reply_for = close_each
    assert run(client.sync()) == 4 and reg.connections == 3  # time + 2 batches, each on its own


def test_a_fresh_connection_closed_before_any_reply_is_an_error_not_a_resend():
    store, reg, client, clock, _ = setup(n=2)
    clock.synced = True
    reg.reply_for = lambda req: b""
    with raises(SyncError, "closed before the reply"):
        run(client.sync())
    assert reg.connections == 1 and len(reg.requests) == 1


def _pending_after_error(answer, match, n=3):
    store, reg, client, clock, _ = setup(n)
    clock.synced = True
    reg.reply_for = answer
    with raises(SyncError, match) as e:
        run(client.sync())
    assert store.counts()["pending"] == n  # nothing lost, nothing marked
    store.close()
    gc.collect()
    return e.value


def test_wrong_answer_signature_is_refused():
    def answer(req):
        body = cbor.dumps({"time": 5, "results": []})
        return http_reply(200, body, {"X-Enrol-Signature": "0" * 64})

    _pending_after_error(answer, "signature")


def test_a_replayed_answer_for_another_nonce_is_refused():
    def answer(req):
        body = cbor.dumps({"time": 5, "results": []})
        return http_reply(200, body, {"X-Enrol-Signature": signed("f" * 32, body)})

    _pending_after_error(answer, "signature")


def test_receipts_with_a_wrong_mac_or_for_unknown_records_are_not_applied():
    def answer(req):
        rows = []
        for env in req.records():
            rid = record_id_of(env)
            rows.append([rid, 0, 7, bytes(16), ""])  # wrong MAC
            rows.append([b"\x01" * 16, 0, 8, receipt_mac(b"\x01" * 16, 0, 8, env), ""])  # unknown id
        body = cbor.dumps({"time": 5, "results": rows})
        return http_reply(200, body, {"X-Enrol-Signature": signed(req.headers["x-enrol-nonce"], body)})

    _pending_after_error(answer, "no valid receipt")


def test_a_receipt_is_bound_to_the_record_bytes_sent():
    def answer(req):
        rows = []
        for env in req.records():
            rid = record_id_of(env)
            rows.append([rid, 0, 7, receipt_mac(rid, 0, 7, bytes(env) + b"x"), ""])
        body = cbor.dumps({"time": 5, "results": rows})
        return http_reply(200, body, {"X-Enrol-Signature": signed(req.headers["x-enrol-nonce"], body)})

    _pending_after_error(answer, "no valid receipt")


def test_a_receipt_naming_bytes_inside_the_plan_is_not_a_record():
    """The plan keeps each record's id and digest side by side in one buffer: 16 bytes of a digest,
    or straddling an id and a digest, are found there but name no record."""
    import hashlib

    def answer(req):
        rows = []
        for env in req.records():
            rid = bytes(record_id_of(env))
            digest = hashlib.sha256(bytes(env)).digest()
            for fake in (digest[:16], digest[16:], rid[8:] + digest[:8]):
                rows.append([fake, 0, 7, receipt_mac(fake, 0, 7, env), ""])
        body = cbor.dumps({"time": 5, "results": rows})
        return http_reply(200, body, {"X-Enrol-Signature": signed(req.headers["x-enrol-nonce"], body)})

    _pending_after_error(answer, "no valid receipt")


def test_a_second_receipt_for_a_record_is_refused_and_the_first_applied():
    store, reg, client, clock, path = setup(3)
    clock.synced = True

    def answer(req):
        rows = []
        for env in req.records():
            rid = record_id_of(env)
            rows += [[rid, 0, 7, receipt_mac(rid, 0, 7, env), ""], [rid, 2, 8, receipt_mac(rid, 2, 8, env), "x"]]
        body = cbor.dumps({"time": 5, "results": rows})
        return http_reply(200, body, {"X-Enrol-Signature": signed(req.headers["x-enrol-nonce"], body)})

    reg.reply_for = answer
    assert run(client.sync()) == 3
    c = store.counts()
    assert c["pending"] == 0 and c["synced"] == 3  # the first (accepted), not the second (rejected)
    with open(path + "/audit/audit.log") as f:
        log = f.read()
    assert "3 results refused" in log and "sync-rejected" not in log


def test_garbled_but_signed_answers_are_refused():
    for body in (b"", b"\xff\xff", cbor.dumps([1, 2]), cbor.dumps({"time": 5}), cbor.dumps({"time": 5, "results": 3}),
                 cbor.dumps({"time": 5, "results": [[1, 2]]}) + b"trailing"):
        def answer(req, body=body):
            return http_reply(200, body, {"X-Enrol-Signature": signed(req.headers["x-enrol-nonce"], body)})

        _pending_after_error(answer, "")


def test_malformed_rows_are_refused_one_by_one():
    def answer(req):
        body = cbor.dumps({"time": 5, "results": [[b"x", 9, -1, b"", ""], "junk", [1, 2, 3, 4, 5]]})
        return http_reply(200, body, {"X-Enrol-Signature": signed(req.headers["x-enrol-nonce"], body)})

    _pending_after_error(answer, "no valid receipt")


def test_huge_or_broken_http_replies_are_refused():
    cases = (
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n", "too large"),
        (b"HTTP/1.1 200 OK\r\n\r\n" + b"z" * 9000, "too large"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 5000, "header too large"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP reply"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", "cut short"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "too large"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed"),
        (b"", "closed before the reply"),
    )
    for raw, match in cases:
        _pending_after_error(lambda req, raw=raw: raw, match)


def test_server_errors_carry_retry_after_and_the_reason():
    e = _pending_after_error(lambda req: http_reply(503, b'{"error": "busy"}', {"Retry-After": "120"}), "HTTP 503")
    assert e.retry_after == 120 and "busy" in str(e)
    e = _pending_after_error(lambda req: http_reply(500, b"<html>oops</html>"), "HTTP 500")
    assert e.retry_after is None


def test_a_timestamp_refusal_makes_the_next_try_fetch_the_time():
    store, reg, client, clock, _ = setup(2)
    clock.synced = True
    reg.reply_for = lambda req: http_reply(401, b'{"error": "timestamp outside the window", "time": 5}')
    with raises(SyncError, "401"):
        run(client.sync())
    assert not clock.synced
    reg.reply_for = None
    assert run(client.sync()) == 2
    assert reg.requests[-2].path == "/v1/time"


def test_unreachable_registry_keeps_records():
    store, reg, client, clock, _ = setup(2)
    reg.refuse_connect = True
    with raises(SyncError, "cannot connect"):
        run(client.sync())
    assert store.counts()["pending"] == 2


def test_bad_time_answers_are_refused():
    for raw in (http_reply(200, b"not json"), http_reply(200, b'{"time": "soon"}'), http_reply(200, b'{"time": -4}'),
                http_reply(503, b"", {"Retry-After": "3"})):
        store, reg, client, clock, _ = setup(1)
        reg.reply_for = lambda req, raw=raw: raw
        with raises(SyncError, "time"):
            run(client.sync())
        assert not clock.synced and store.counts()["pending"] == 1
        store.close()
        gc.collect()


def test_conflicts_are_final_on_the_device_and_logged():
    store, reg, client, clock, path = setup(3)
    reg.result = CONFLICT
    assert run(client.sync()) == 3
    c = store.counts()
    assert c["pending"] == 0 and c["synced"] == 0  # kept on flash, not counted as synced, not re-sent
    assert run(client.sync()) == 0
    with open(path + "/audit/audit.log") as f:
        assert f.read().count("sync-conflict") == 3


def test_a_duplicate_answer_counts_as_synced():
    store, reg, client, clock, _ = setup(2)
    reg.result = 1
    assert run(client.sync()) == 2 and store.counts()["synced"] == 2


def test_backoff_full_jitter_grows_to_the_cap_and_honours_retry_after():
    b = Backoff(2000, 30 * 60 * 1000)
    ceilings = []
    for _ in range(14):
        d = b.failed()
        ceilings.append(b.ceiling_ms())
        assert 0 <= d <= ceilings[-1]
    assert ceilings[:4] == [4000, 8000, 16000, 32000] and ceilings[-1] == 30 * 60 * 1000
    assert b.failed(retry_after_s=600) >= 600_000
    assert b.failed(retry_after_s=10 ** 6) == 30 * 60 * 1000  # a hostile Retry-After is capped
    b.succeeded()
    assert b.ceiling_ms() == 2000
    delays = [Backoff(2000).failed() for _ in range(40)]
    assert min(delays) != max(delays)  # jittered, not a fixed step


def test_out_of_memory_halves_the_next_batch_and_keeps_the_records():
    store, reg, client, clock, _ = setup(n=6, batch=64)
    clock.synced = True

    def no_memory(req):
        raise MemoryError()

    reg.reply_for = no_memory
    for expect in (32, 16, 8, 4, 4):
        with raises(SyncError, "out of memory"):
            run(client.sync())
        assert client.batch_records == expect and store.counts()["pending"] == 6
    reg.reply_for = None
    assert run(client.sync()) == 6
    assert [len(r.records()) for r in reg.requests if r.path == "/v1/batches"][-2:] == [4, 2]


def test_clock_never_goes_back_and_remembers_its_floor():
    path = tmpdir()
    raw = FixedRaw(1000)
    c = Clock(path, raw)
    assert not c.synced and c.now() == 1000
    assert c.fix(1_800_000_000) and c.synced and c.now() == 1_800_000_000
    raw.t = 500  # the raw clock jumps back (RTC reset)
    assert c.now() == 1_800_000_000
    c2 = Clock(path, FixedRaw(3))  # after a power loss: the floor from flash, unsynced
    assert c2.now() == 1_800_000_000 and not c2.synced
    assert not c2.fix("garbage") and not c2.fix(-1)
    with open(path + "/clock.json", "w") as f:
        f.write("{broken")
    assert Clock(path, FixedRaw(7)).now() == 7  # a damaged file costs only the floor


def test_a_certificate_refused_during_the_first_write_is_a_tls_error():
    """MicroPython's TLS shakes hands at the first write and reports an untrusted certificate
    as ValueError there, not at connect."""
    store, reg, client, clock, _ = setup(2)

    class Refusing:
        def write(self, b):
            pass

        async def drain(self):
            raise ValueError("The certificate is not correctly signed by the trusted CA")

        def close(self):
            pass

    async def connect():
        return None, Refusing()

    client.conn.connect = connect
    with raises(SyncError, "TLS: The certificate"):
        run(client.sync())
    assert store.counts()["pending"] == 2


class FakeWlan:
    def __init__(self, reachable, reports_failure=False):
        self.reachable = reachable
        self.reports_failure = reports_failure  # status() says "no such network" after a failed join
        self.on = False
        self.joined = None
        self.tried = []
        self.gave_up = False
        self.polls = 0

    def active(self, on=None):
        if on is None:
            return self.on
        self.on = on
        if not on:
            self.joined = None

    def connect(self, ssid, psk):
        self.tried.append(ssid)
        self.gave_up = False
        if ssid in self.reachable:
            self.joined = ssid
        else:
            self.gave_up = self.reports_failure

    def isconnected(self):
        self.polls += 1
        return self.on and self.joined is not None

    def disconnect(self):
        self.joined = None


class FakeBoard:
    def __init__(self, wlan):
        self._wlan = wlan

    def wlan(self):
        return self._wlan

    def wifi_failed(self, wlan):
        return wlan.gave_up


class Networks:
    """device.json's Wi-Fi networks, as the radio session reads them from the secrets."""

    def __init__(self, wifi):
        self.wifi = wifi


def Wifi(board, networks, timeout_ms):  # noqa: N802 - the radio session's Wi-Fi, as these tests knew it
    from firmware.net.radio import RadioSession
    from firmware.ui.screen import Status

    return RadioSession(board, Networks(networks), Status(), timeout_ms)


def test_wifi_tries_each_network_then_switches_the_radio_off():
    wlan = FakeWlan(reachable=("second",))
    wifi = Wifi(FakeBoard(wlan), [("first", "k1"), ("second", "k2"), ("third", "k3")], timeout_ms=400)
    assert run(wifi.up()) and wlan.tried == ["first", "second"] and wlan.on
    wifi.down()
    assert not wlan.on and not wifi.connected  # the radio is off between syncs
    none = FakeWlan(reachable=())
    wifi = Wifi(FakeBoard(none), [("a", ""), ("b", "")], timeout_ms=200)
    assert not run(wifi.up()) and none.tried == ["a", "b"] and not none.on  # off again when nothing answers
    assert not run(Wifi(FakeBoard(FakeWlan(())), [], 200).up())  # no network provisioned: radio never on


def test_wifi_stops_waiting_when_the_station_reports_no_network():
    wlan = FakeWlan(reachable=(), reports_failure=True)
    wifi = Wifi(FakeBoard(wlan), [("a", ""), ("b", "")], timeout_ms=600000)  # a 10-minute timeout is not waited
    assert not run(wifi.up())
    assert wlan.tried == ["a", "b"] and not wlan.on
    assert wlan.polls <= 10  # a few status checks per network, not 3,000 polls of 200 ms each

"""A host-side registry client with the device's credentials: `enrolctl records push`, tests, benches.

It signs requests and checks answers exactly as the firmware does (protocol.py),
so records pulled from a device over USB get the same exactly-once treatment.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import time
from dataclasses import dataclass

import cbor2
import httpx

from . import protocol


class ClientError(Exception):
    pass


@dataclass(frozen=True)
class Receipt:
    record_id: bytes
    result: int
    receipt_no: int
    reason: str

    @property
    def name(self) -> str:
        return protocol.RESULT_NAMES[self.result]


class RegistryClient:
    def __init__(self, base_url: str, device_id: str, secret: bytes, ca_file: str | None = None,
                 timeout: float = 30.0) -> None:
        self.device_id = device_id
        self.secret = secret
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self.http = httpx.Client(base_url=base_url, verify=verify, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def signed_headers(self, method: str, path: str, body: bytes, ts: int | None = None,
                       nonce: str | None = None) -> dict[str, str]:
        ts_s = str(int(time.time()) if ts is None else ts)
        nonce = nonce or os.urandom(16).hex()
        return {protocol.H_DEVICE: self.device_id, protocol.H_TIME: ts_s, protocol.H_NONCE: nonce,
                protocol.H_SIGNATURE: protocol.request_signature(self.secret, method, path, self.device_id, ts_s,
                                                                 nonce, body),
                "content-type": "application/octet-stream"}

    def post_batch(self, keys: list[bytes], records: list[bytes]) -> list[Receipt]:
        """Upload; returns the receipts whose MACs check out (ClientError if the answer is not genuine)."""
        answer = self._post_signed("/v1/batches", protocol.encode_batch(keys, records))
        digests = {}
        for env in records:
            digests.setdefault(protocol.record_id_of(env), hashlib.sha256(env).digest())
        out = []
        for rid, result, rno, mac, reason in cbor2.loads(answer)["results"]:
            digest = digests.get(rid)
            if digest is None or protocol.receipt_mac(self.secret, rid, result, rno, digest) != mac:
                raise ClientError(f"receipt for record {rid.hex()} does not verify")
            out.append(Receipt(rid, result, rno, reason))
        return out

    def post_cards(self, cards: list[bytes]) -> list[tuple[int, int, int, str]]:
        """Upload card entries (journal CARD payloads); (boot, seq, result, reason) of each, once
        its MAC checks out (ClientError if one does not)."""
        answer = self._post_signed("/v1/batches", protocol.encode_batch([], [], cards))
        digests = [hashlib.sha256(c).digest() for c in cards]
        rows = cbor2.loads(answer)["cards"]
        if len(rows) != len(cards):
            raise ClientError(f"{len(rows)} card answers for {len(cards)} entries")
        out = []
        for (boot, seq, result, mac, reason), digest in zip(rows, digests):
            if protocol.card_mac(self.secret, digest, result) != mac:
                raise ClientError(f"card answer for {boot}/{seq} does not verify")
            out.append((boot, seq, result, reason))
        return out

    def verify(self, credential: bytes, uid: bytes, pin_block: bytes) -> dict:
        """A payout point's question: card + PIN.  The answer, once its signature checks out."""
        import base64
        import json

        body = json.dumps({"credential": base64.b64encode(credential).decode(), "uid": uid.hex(),
                           "pin_block": pin_block.hex()}).encode()
        return json.loads(self._post_signed("/v1/verify", body, "application/json"))

    def _post_signed(self, path: str, body: bytes, content_type: str | None = None) -> bytes:
        """POST a signed request; the answer's body once its signature checks out (ClientError
        for any other status or a signature that is not the registry's for this request)."""
        headers = self.signed_headers("POST", path, body)
        if content_type:
            headers["content-type"] = content_type
        r = self.http.post(path, content=body, headers=headers)
        if r.status_code != 200:
            raise ClientError(f"registry answered {r.status_code}: {r.text[:200]}")
        expected = protocol.response_signature(self.secret, 200, headers[protocol.H_NONCE], r.content)
        if r.headers.get(protocol.H_SIGNATURE) != expected:
            raise ClientError("answer signature wrong")
        return r.content

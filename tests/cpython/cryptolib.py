"""CPython stand-in for MicroPython's built-in `cryptolib` (host tests only).

Only what the firmware uses: cryptolib.aes(key, mode, iv) with mode 1 (ECB)
or 2 (CBC), encrypt(buf) / decrypt(buf) on whole 16-byte blocks, keeping the
CBC chaining state between calls like the C module does.  Built on the
`cryptography` package so the cipher itself is the real one.
"""

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MODE_ECB = 1
MODE_CBC = 2


class aes:  # noqa: N801 - the built-in's name
    def __init__(self, key, mode, iv=None):
        if mode not in (MODE_ECB, MODE_CBC):
            raise ValueError("mode")
        if len(key) not in (16, 32):
            raise ValueError("key")
        m = modes.ECB() if mode == MODE_ECB else modes.CBC(bytes(iv or bytes(16)))
        self._cipher = Cipher(algorithms.AES(bytes(key)), m)
        self._enc = None
        self._dec = None

    def _check(self, buf):
        if len(buf) % 16:
            raise ValueError("blksize")

    def _run(self, ctx, buf, out):
        self._check(buf)
        data = ctx.update(bytes(buf))
        if out is not None:
            out[: len(data)] = data
            return None
        return data

    def encrypt(self, buf, out=None):
        if self._dec is not None:
            raise OSError("encrypt after decrypt")
        if self._enc is None:
            self._enc = self._cipher.encryptor()
        return self._run(self._enc, buf, out)

    def decrypt(self, buf, out=None):
        if self._enc is not None:
            raise OSError("decrypt after encrypt")
        if self._dec is None:
            self._dec = self._cipher.decryptor()
        return self._run(self._dec, buf, out)

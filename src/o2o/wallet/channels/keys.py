"""Key material of the simulated channels, kept as PEM files under ``<var_dir>/keys`` (mode 0600).

For each simulator there are two RSA-2048 key pairs, the provider's (Alipay's / WeChat Pay's platform key) and
the merchant's (ours), and for WeChat Pay the 32-byte APIv3 key the two share. They are made on first use.
Each side reads only what it would really hold:

* our side (``merchant_credentials``): our private key and the provider's *public* key (``*.pub.pem``);
* the simulator (``provider_credentials``): its private key and our *public* key.

Files are written atomically (a temporary file linked into place), so two processes starting at once agree on
one key. Files are read on each use (a replaced key takes effect at once); what they hold is parsed once per
distinct content for the life of the process. Generating RSA keys costs tens of
milliseconds each; under ``O2O_ENV=test``, where every test has a fresh ``var_dir``, the keys generated first
in the process are written again into each new directory instead of generating new ones.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from o2o.config import Settings

# Who we are at each simulated provider (merchant ids, as the providers would assign them).
ALIPAY_APP_ID = "9021000122600001"
ALIPAY_SELLER_ID = "2088621000000001"
WECHAT_MCHID = "1900000109"
WECHAT_APPID = "wx0a2b3c4d5e6f7a8b"
MERCHANT_NAME = "o2o"

_lock = threading.RLock()
_cache: dict[tuple[bool, bool, bytes], object] = {}  # (public?, private?, sha256 of the file) -> parsed
_generated: dict[str, bytes] = {}  # name -> PEM/raw bytes, reused for new directories when env == "test"


@dataclass(frozen=True)
class AlipayMerchant:
    """What our Alipay client holds."""

    app_id: str
    seller_id: str
    private_key: rsa.RSAPrivateKey
    alipay_public_key: rsa.RSAPublicKey


@dataclass(frozen=True)
class AlipayProvider:
    """What the Alipay simulator holds."""

    app_id: str
    seller_id: str
    private_key: rsa.RSAPrivateKey
    merchant_public_key: rsa.RSAPublicKey
    secret: bytes  # the simulator's own secret (bill download tokens)


@dataclass(frozen=True)
class WechatMerchant:
    """What our WeChat Pay client holds."""

    mchid: str
    appid: str
    serial_no: str  # our merchant certificate's serial
    private_key: rsa.RSAPrivateKey
    platform_serial_no: str
    platform_public_key: rsa.RSAPublicKey
    apiv3_key: bytes


@dataclass(frozen=True)
class WechatProvider:
    """What the WeChat Pay simulator holds."""

    mchid: str
    appid: str
    merchant_serial_no: str
    merchant_public_key: rsa.RSAPublicKey
    platform_serial_no: str
    private_key: rsa.RSAPrivateKey
    apiv3_key: bytes
    secret: bytes


def keys_dir(settings: Settings) -> Path:
    return Path(settings.var_dir) / "keys"


# ----------------------------------------------------------------------------------------------------------------
# Files


def _write_once(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` (0600) unless it exists; never leaves a half-written file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process got there first: its key stands
            os.link(temporary, path)  # atomic
    finally:
        temporary.unlink(missing_ok=True)


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _ensure_key_pair(settings: Settings, name: str) -> None:
    """Make ``<name>.pem`` and ``<name>.pub.pem`` if missing."""
    directory = keys_dir(settings)
    private_path = directory / f"{name}.pem"
    public_path = directory / f"{name}.pub.pem"
    if private_path.exists() and public_path.exists():
        return
    with _lock:
        if not private_path.exists():
            pem = _generated.get(name) if settings.env == "test" else None
            if pem is None:
                pem = _private_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
                if settings.env == "test":
                    _generated[name] = pem
            _write_once(private_path, pem)
        if not public_path.exists():
            key = _load(private_path)
            assert isinstance(key, rsa.RSAPrivateKey)
            _write_once(public_path, _public_pem(key.public_key()))


def _ensure_secret(settings: Settings, name: str, size: int) -> None:
    path = keys_dir(settings) / name
    if path.exists():
        return
    with _lock:
        if not path.exists():
            data = _generated.get(name) if settings.env == "test" else None
            if data is None:
                data = base64.b64encode(secrets.token_bytes(size * 3 // 4 + 1))[:size]  # printable, as WeChat's is
                if settings.env == "test":
                    _generated[name] = data
            _write_once(path, data)


def _load(path: Path) -> object:
    """The key in ``path``, parsed once per distinct content: parsing an RSA private key validates it, which
    costs ~40 ms, and tests give every app a fresh directory holding the same keys."""
    data = path.read_bytes()
    digest = (path.name.endswith(".pub.pem"), path.name.endswith(".pem"), hashlib.sha256(data).digest())
    cached = _cache.get(digest)
    if cached is not None:
        return cached
    if digest[0]:
        value: object = serialization.load_pem_public_key(data)
    elif digest[1]:
        value = serialization.load_pem_private_key(data, password=None)
    else:
        value = data
    with _lock:
        _cache[digest] = value
    return value


def _private(settings: Settings, name: str) -> rsa.RSAPrivateKey:
    _ensure_key_pair(settings, name)
    key = _load(keys_dir(settings) / f"{name}.pem")
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _public(settings: Settings, name: str) -> rsa.RSAPublicKey:
    _ensure_key_pair(settings, name)
    key = _load(keys_dir(settings) / f"{name}.pub.pem")
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def _secret(settings: Settings, name: str, size: int) -> bytes:
    _ensure_secret(settings, name, size)
    value = _load(keys_dir(settings) / name)
    assert isinstance(value, bytes)
    return value


def serial_of(key: rsa.RSAPublicKey) -> str:
    """A certificate-serial-like identifier of a public key (upper-case hex, 40 digits)."""
    return hashlib.sha1(_public_pem(key), usedforsecurity=False).hexdigest().upper()


def _sim_secret(settings: Settings, provider: str) -> bytes:
    _ensure_key_pair(settings, provider)
    return hashlib.sha256(b"o2o-channel-sim:" + (keys_dir(settings) / f"{provider}.pem").read_bytes()).digest()


# ----------------------------------------------------------------------------------------------------------------
# What each side holds


def alipay_merchant(settings: Settings) -> AlipayMerchant:
    return AlipayMerchant(
        app_id=ALIPAY_APP_ID,
        seller_id=ALIPAY_SELLER_ID,
        private_key=_private(settings, "alipay-sim-merchant"),
        alipay_public_key=_public(settings, "alipay-sim-provider"),
    )


def alipay_provider(settings: Settings) -> AlipayProvider:
    return AlipayProvider(
        app_id=ALIPAY_APP_ID,
        seller_id=ALIPAY_SELLER_ID,
        private_key=_private(settings, "alipay-sim-provider"),
        merchant_public_key=_public(settings, "alipay-sim-merchant"),
        secret=_sim_secret(settings, "alipay-sim-provider"),
    )


def wechat_merchant(settings: Settings) -> WechatMerchant:
    merchant_public = _public(settings, "wechatpay-sim-merchant")
    platform_public = _public(settings, "wechatpay-sim-provider")
    return WechatMerchant(
        mchid=WECHAT_MCHID,
        appid=WECHAT_APPID,
        serial_no=serial_of(merchant_public),
        private_key=_private(settings, "wechatpay-sim-merchant"),
        platform_serial_no=serial_of(platform_public),
        platform_public_key=platform_public,
        apiv3_key=_secret(settings, "wechatpay-sim-apiv3.key", 32),
    )


def wechat_provider(settings: Settings) -> WechatProvider:
    merchant_public = _public(settings, "wechatpay-sim-merchant")
    platform_public = _public(settings, "wechatpay-sim-provider")
    return WechatProvider(
        mchid=WECHAT_MCHID,
        appid=WECHAT_APPID,
        merchant_serial_no=serial_of(merchant_public),
        merchant_public_key=merchant_public,
        platform_serial_no=serial_of(platform_public),
        private_key=_private(settings, "wechatpay-sim-provider"),
        apiv3_key=_secret(settings, "wechatpay-sim-apiv3.key", 32),
        secret=_sim_secret(settings, "wechatpay-sim-provider"),
    )


def forger_key(settings: Settings) -> rsa.RSAPrivateKey:
    """A key that belongs to nobody: the simulators sign tampered callbacks with it (fault injection)."""
    return _private(settings, "channel-sim-forger")

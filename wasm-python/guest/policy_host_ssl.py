"""A stand-in for the `ssl` module, which the guest's CPython lacks (no `_ssl`).

Packages import `ssl` at import time for names alone (PyJWT's
`from ssl import SSLContext`, `http.client` deciding whether HTTPS exists),
so every public name of the real module is here: the exception classes, the
constants and enums, `SSLContext`, `create_default_context`. Contexts can be
made and configured, but nothing can use one: wrapping a socket or a BIO,
loading certificates and the like raise `TLSUnavailableError`, an `SSLError`
and so an `OSError`, which a policy can catch. The sandbox has no network
either, so there is nothing TLS could reach.

The glue installs this module as `sys.modules["ssl"]` only when the real one
fails to import.
"""

import enum as _enum

_WHY = "TLS is not available inside the policy sandbox (no network, no OpenSSL)"

OPENSSL_VERSION = "none (policy-host sandbox)"
OPENSSL_VERSION_INFO = (0, 0, 0, 0, 0)
OPENSSL_VERSION_NUMBER = 0
HAS_SNI = HAS_ALPN = HAS_ECDH = HAS_NPN = HAS_NEVER_CHECK_COMMON_NAME = False
HAS_SSLv2 = HAS_SSLv3 = HAS_TLSv1 = HAS_TLSv1_1 = HAS_TLSv1_2 = HAS_TLSv1_3 = False
HAS_PSK = HAS_PHA = False
CHANNEL_BINDING_TYPES = []


class SSLError(OSError):
    """Base class of TLS errors (an OSError, as in the real module)."""


class SSLZeroReturnError(SSLError):
    """The TLS connection was closed cleanly."""


class SSLWantReadError(SSLError):
    """Non-blocking TLS needs more data."""


class SSLWantWriteError(SSLError):
    """Non-blocking TLS needs to write."""


class SSLSyscallError(SSLError):
    """A system error inside TLS."""


class SSLEOFError(SSLError):
    """The TLS connection ended abruptly."""


class SSLCertVerificationError(SSLError, ValueError):
    """A certificate did not verify."""


CertificateError = SSLCertVerificationError


class TLSUnavailableError(SSLError):
    """Raised by everything that would need a real TLS implementation."""

    def __init__(self, what):
        super().__init__(f"{what}: {_WHY}")


def _unavailable(what):
    def refuse(*args, **kwargs):
        raise TLSUnavailableError(what)

    refuse.__name__ = what.rsplit(".", 1)[-1].rstrip("()")
    return refuse


class _IntEnum(_enum.IntEnum):
    pass


class _IntFlag(_enum.IntFlag):
    pass


class VerifyMode(_IntEnum):
    """Certificate verification modes."""

    CERT_NONE = 0
    CERT_OPTIONAL = 1
    CERT_REQUIRED = 2


class VerifyFlags(_IntFlag):
    """Certificate verification flags."""

    VERIFY_DEFAULT = 0
    VERIFY_CRL_CHECK_LEAF = 0x4
    VERIFY_CRL_CHECK_CHAIN = 0x8 | 0x4
    VERIFY_X509_STRICT = 0x20
    VERIFY_ALLOW_PROXY_CERTS = 0x40
    VERIFY_X509_TRUSTED_FIRST = 0x8000
    VERIFY_X509_PARTIAL_CHAIN = 0x80000


class Options(_IntFlag):
    """Protocol options."""

    OP_ALL = 0x80000050
    OP_NO_SSLv2 = 0
    OP_NO_SSLv3 = 0x2000000
    OP_NO_TLSv1 = 0x4000000
    OP_NO_TLSv1_1 = 0x10000000
    OP_NO_TLSv1_2 = 0x8000000
    OP_NO_TLSv1_3 = 0x20000000
    OP_NO_COMPRESSION = 0x20000
    OP_NO_TICKET = 0x4000
    OP_NO_RENEGOTIATION = 0x40000000
    OP_CIPHER_SERVER_PREFERENCE = 0x400000
    OP_SINGLE_DH_USE = 0
    OP_SINGLE_ECDH_USE = 0
    OP_ENABLE_MIDDLEBOX_COMPAT = 0x100000
    OP_IGNORE_UNEXPECTED_EOF = 0x80
    OP_LEGACY_SERVER_CONNECT = 0x4


class _SSLMethod(_IntEnum):
    PROTOCOL_SSLv23 = 2
    PROTOCOL_TLS_CLIENT = 16
    PROTOCOL_TLS_SERVER = 17
    PROTOCOL_TLSv1 = 3
    PROTOCOL_TLSv1_1 = 4
    PROTOCOL_TLSv1_2 = 5


_SSLMethod.PROTOCOL_TLS = _SSLMethod.PROTOCOL_SSLv23


class TLSVersion(_IntEnum):
    """TLS protocol versions."""

    MINIMUM_SUPPORTED = -2
    SSLv3 = 0x300
    TLSv1 = 0x301
    TLSv1_1 = 0x302
    TLSv1_2 = 0x303
    TLSv1_3 = 0x304
    MAXIMUM_SUPPORTED = -1


class AlertDescription(_IntEnum):
    """TLS alert codes (a few; the real module lists them all)."""

    ALERT_DESCRIPTION_CLOSE_NOTIFY = 0
    ALERT_DESCRIPTION_HANDSHAKE_FAILURE = 40
    ALERT_DESCRIPTION_BAD_CERTIFICATE = 42
    ALERT_DESCRIPTION_INTERNAL_ERROR = 80


class SSLErrorNumber(_IntEnum):
    """Error numbers of SSLError."""

    SSL_ERROR_SSL = 1
    SSL_ERROR_WANT_READ = 2
    SSL_ERROR_WANT_WRITE = 3
    SSL_ERROR_WANT_X509_LOOKUP = 4
    SSL_ERROR_SYSCALL = 5
    SSL_ERROR_ZERO_RETURN = 6
    SSL_ERROR_WANT_CONNECT = 7
    SSL_ERROR_EOF = 8
    SSL_ERROR_INVALID_ERROR_CODE = 10


for _enum_class in (VerifyMode, VerifyFlags, Options, _SSLMethod, AlertDescription, SSLErrorNumber):
    globals().update(_enum_class.__members__)
PROTOCOL_TLS = _SSLMethod.PROTOCOL_TLS


class _ASN1Object(tuple):
    __slots__ = ()

    def __new__(cls, nid, shortname, longname, oid):
        return super().__new__(cls, (nid, shortname, longname, oid))


class Purpose(_ASN1Object, _enum.Enum):
    """What a context's certificates are for."""

    SERVER_AUTH = (129, "serverAuth", "TLS Web Server Authentication", "1.3.6.1.5.5.7.3.1")
    CLIENT_AUTH = (130, "clientAuth", "TLS Web Client Authentication", "1.3.6.1.5.5.7.3.2")


class SSLContext:
    """A TLS context that can be configured but never used to connect."""

    def __init__(self, protocol=None, *args, **kwargs):
        self.protocol = PROTOCOL_TLS if protocol is None else protocol
        self.verify_mode = CERT_NONE if self.protocol == PROTOCOL_TLS_SERVER else CERT_REQUIRED
        self.check_hostname = self.protocol == PROTOCOL_TLS_CLIENT
        self.verify_flags = VERIFY_DEFAULT
        self.options = OP_ALL
        self.minimum_version = TLSVersion.MINIMUM_SUPPORTED
        self.maximum_version = TLSVersion.MAXIMUM_SUPPORTED
        self.post_handshake_auth = False
        self.keylog_filename = None
        self.sni_callback = None

    def set_ciphers(self, ciphers):
        """Accepted and ignored: nothing will be enciphered."""

    def set_alpn_protocols(self, protocols):
        """Accepted and ignored."""

    def set_default_verify_paths(self):
        """Accepted and ignored: there are no system certificates."""

    def load_default_certs(self, purpose=Purpose.SERVER_AUTH):
        """Accepted and ignored: there are no system certificates."""

    def get_ca_certs(self, binary_form=False):
        """No certificates are loaded."""
        return []

    def cert_store_stats(self):
        """No certificates are loaded."""
        return {"x509": 0, "crl": 0, "x509_ca": 0}

    def get_ciphers(self):
        """No ciphers exist here."""
        return []

    load_verify_locations = _unavailable("SSLContext.load_verify_locations()")
    load_cert_chain = _unavailable("SSLContext.load_cert_chain()")
    load_dh_params = _unavailable("SSLContext.load_dh_params()")
    set_ecdh_curve = _unavailable("SSLContext.set_ecdh_curve()")
    wrap_socket = _unavailable("SSLContext.wrap_socket()")
    wrap_bio = _unavailable("SSLContext.wrap_bio()")


class SSLSocket:
    """Never created: `SSLContext.wrap_socket` raises instead."""

    def __init__(self, *args, **kwargs):
        raise TLSUnavailableError("SSLSocket()")


class SSLObject:
    """Never created: `SSLContext.wrap_bio` raises instead."""

    def __init__(self, *args, **kwargs):
        raise TLSUnavailableError("SSLObject()")


class MemoryBIO:
    """Never created: there is no TLS to feed."""

    def __init__(self, *args, **kwargs):
        raise TLSUnavailableError("MemoryBIO()")


class SSLSession:
    """Never created: there are no TLS sessions."""

    def __init__(self, *args, **kwargs):
        raise TLSUnavailableError("SSLSession()")


def create_default_context(purpose=Purpose.SERVER_AUTH, *, cafile=None, capath=None, cadata=None):
    """A client (or server) context, as the real function returns; loading
    the given certificates raises, as there is no TLS to use them with."""
    context = SSLContext(PROTOCOL_TLS_CLIENT if purpose == Purpose.SERVER_AUTH else PROTOCOL_TLS_SERVER)
    if cafile or capath or cadata:
        context.load_verify_locations(cafile, capath, cadata)
    return context


def _create_unverified_context(*args, **kwargs):
    context = create_default_context()
    context.check_hostname = False
    context.verify_mode = CERT_NONE
    return context


_create_default_https_context = create_default_context
_create_stdlib_context = _create_unverified_context


class DefaultVerifyPaths(tuple):
    """Where certificates would be: nowhere."""

    cafile = capath = None
    openssl_cafile_env = "SSL_CERT_FILE"
    openssl_cafile = ""
    openssl_capath_env = "SSL_CERT_DIR"
    openssl_capath = ""


def get_default_verify_paths():
    """Certificate locations: none exist in the sandbox."""
    return DefaultVerifyPaths((None, None, "SSL_CERT_FILE", "", "SSL_CERT_DIR", ""))


def RAND_status():
    """Whether the TLS random generator is seeded: there is none."""
    return False


RAND_bytes = _unavailable("ssl.RAND_bytes()")
RAND_add = _unavailable("ssl.RAND_add()")
get_server_certificate = _unavailable("ssl.get_server_certificate()")
cert_time_to_seconds = _unavailable("ssl.cert_time_to_seconds()")

PEM_HEADER = "-----BEGIN CERTIFICATE-----"
PEM_FOOTER = "-----END CERTIFICATE-----"


def DER_cert_to_PEM_cert(der_cert_bytes):
    """Pure formatting, as in the real module."""
    import base64
    import textwrap

    body = base64.standard_b64encode(der_cert_bytes).decode("ascii")
    return PEM_HEADER + "\n" + textwrap.fill(body, 64) + "\n" + PEM_FOOTER + "\n"


def PEM_cert_to_DER_cert(pem_cert_string):
    """Pure parsing, as in the real module."""
    import base64

    text = pem_cert_string.strip()
    if not text.startswith(PEM_HEADER) or not text.endswith(PEM_FOOTER):
        raise ValueError(f"Invalid PEM encoding; must start with {PEM_HEADER!r} and end with {PEM_FOOTER!r}")
    return base64.decodebytes(text[len(PEM_HEADER) : -len(PEM_FOOTER)].encode("ascii"))


socket_error = OSError

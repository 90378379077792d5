"""Judge many connections' chains against one trust store, reusing verdicts where they must agree.

A verdict depends on the chain, the name checked and, through validity dates, the time. Two
connections that present the same chain for the same name at times where every certificate
involved (chain and trust store) is in the same validity state get the same verdict, so it is
computed once: captures hold thousands of connections to a handful of servers.

The trust store's part of that state changes only at its certificates' notBefore/notAfter, so it
is computed once per interval between those boundaries, not once per connection.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime, timezone

from ..errors import MalformedError
from ..tls.model import TlsConnection
from .openssl.chain import name_for, verify_chain
from .openssl.vocabulary import Verdict
from .truststore import TrustStore
from .x509 import window


class Judge:
    """Verdicts for connections' server chains against ``trust``."""

    def __init__(self, trust: TrustStore) -> None:
        self.trust = trust
        self._cache: dict[tuple[tuple[bytes, ...], str, tuple[int, ...]], Verdict] = {}
        self._windows: dict[bytes, tuple[float, float]] = {}
        windows = [self._window(der) for der in trust.certs]
        # t's place among the trust store's boundaries decides every trusted certificate's state:
        # how many notBefore are <= t (those are not "not yet valid") and how many notAfter are
        # < t (those are expired).
        self._trust_nb = sorted(nb for nb, _ in windows)
        self._trust_na = sorted(na for _, na in windows)
        self._trust_regimes: dict[tuple[int, int], int] = {}
        self._trust_states: dict[tuple[int, ...], int] = {}
        self.computed = 0

    def _window(self, der: bytes) -> tuple[float, float]:
        w = self._windows.get(der)
        if w is None:
            w = window(der) or (float("-inf"), float("inf"))  # validity only: no full decode
            self._windows[der] = w
        return w

    def _regime(self, chain: tuple[bytes, ...], t: float) -> tuple[int, ...]:
        # -1 not yet valid, 0 valid, 1 expired, for every certificate of the chain; then the
        # trust store's state, as its number (see _trust_regime).
        out = []
        for der in chain:
            nb, na = self._window(der)
            out.append(-1 if t < nb else (1 if t > na else 0))
        out.append(self._trust_regime(t))
        return tuple(out)

    def _trust_regime(self, t: float) -> int:
        """The state of every trusted certificate at ``t`` (as in :meth:`_regime`), computed once
        per interval between boundaries; as a number, one for each distinct state (a key of
        hundreds of states was most of the cost of a verdict found in the cache)."""
        interval = (bisect_right(self._trust_nb, t), bisect_left(self._trust_na, t))
        r = self._trust_regimes.get(interval)
        if r is None:
            states = tuple(-1 if t < nb else (1 if t > na else 0) for nb, na in map(self._window, self.trust.certs))
            r = self._trust_regimes[interval] = self._trust_states.setdefault(states, len(self._trust_states))
        return r

    def verdict(self, conn: TlsConnection) -> Verdict | None:
        """OpenSSL's verdict on ``conn``'s server chain, at the time its Certificate was seen.

        ``None`` when no server certificate is visible (TLS 1.3, or not captured).
        """
        chain = conn.server_certs
        if not chain:
            return None
        t = conn.start
        for e in conn.handshake:  # a loop, not next(genexpr): asked for every connection
            if e.type == 11 and e.sender == "server":
                t = e.time
                break
        name = name_for(conn.sni, conn.server.ip)
        key = (chain, name, self._regime(chain, t))
        v = self._cache.get(key)
        if v is None:
            self.computed += 1
            at = datetime.fromtimestamp(t, timezone.utc)
            try:
                v = verify_chain(chain, self.trust, at, name)
            except MalformedError as e:  # a certificate OpenSSL could not parse either
                v = Verdict("UNSPECIFIED", None, "unspecified certificate verification error",
                            "unspecified certificate verification error", name, detail=str(e))
            self._cache[key] = v
        return v

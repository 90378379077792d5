"""Certificates: decoded X.509 (once per distinct DER), chain verification, trust stores."""

"""The demo relying party E-loket Zorg en Gezondheid (demo): `make demo-rp`, see demo/README.md."""

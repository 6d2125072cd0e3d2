"""The evidence archive: pages kept as received (WARC), exported as WACZ, verified, signed, re-checked.

Modules: `warc` (records, files, rotation, reading back), `capture` (write then index: the seam every source
kind calls), `wacz` (the export package), `verify` (re-hash a package or the state), `signing` (Ed25519 keys
and signatures; the RFC 3161 hook), `recheck` (pages that change or vanish).

Takes: the `Hop`s of a fetch (sources/exchange.py). Returns: WARC records on disk, fsynced, then indexed in the
caller's transaction; packages, verdicts.

May import: `config`, `store`, `sources` (page re-checks fetch through the run's Fetcher), `extract`,
`stories` (the stories of a WACZ package).
"""

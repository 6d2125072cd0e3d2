"""The evidence archive: pages kept as received (WARC), exported as WACZ, verified, signed, re-checked.

Modules: `warc` (records, files, rotation, reading back), `capture` (write then index: the seam every source
kind calls), `wacz` (the export package), `verify` (re-hash a package or the state), `crosscheck` (index and
capture list against the records), `custody` (the hash-chained custody log), `signing` (ECDSA P-384
signatures in the WACZ signing spec's form; Ed25519 keys of earlier versions), `timestamp` (RFC 3161
trusted time over the signature), `recheck` (pages that change or vanish), `requisites` (a matched
page's images, stylesheets and fonts, fetched through the run's Fetcher and kept in its capture),
`screenshot` (a full-page PNG rendered by headless Chromium from the capture alone), `pngstrips` (a long
page's screenshot captured in strips, joined into one PNG), `views` (the screenshot queue: rendered by one
browser per run in the background, never on a story's way; shared by the hosts of a state, each view claimed
before it is rendered), `provenance` (the
package's technical report), `objectstore` (captures as objects in an S3 bucket: MONITOR_ARCHIVE_URL),
`spool` (captures on their way to the bucket, on local disk), `offsite` (keep → PUT → index, and the spool's
drain at the start of a cycle).

Takes: the `Hop`s of a fetch (sources/exchange.py). Returns: WARC records on disk (in files named with the host
that wrote them), fsynced, or an object PUT from a worker thread (`Evidence.write_async`), then indexed in the
caller's transaction; packages, verdicts.

May import: `config`, `store`, `sources` (page re-checks fetch through the run's Fetcher), `extract`,
`stories` (the stories of a WACZ package).
"""

"""Configuration: `feeds.yaml` (sources and settings) and the YAML plumbing `keywords.yaml` shares.

`feeds.py`: line-aware YAML (YAML 1.2 booleans, duplicate keys refused), the pydantic models of feeds.yaml,
every mistake as `file:line: message`. `problems.py`: `ConfigError` without pydantic, so any command can catch
it without loading the config machinery. `yamlfile.py`: the line-aware YAML loader both files share. `schedule.py`: weekly times such as `weekly_report: "mon 08:00"`. `recipients.py`: feeds.yaml's `recipients:`
(who gets which stories on which channel).

Takes: file paths. Returns: validated, frozen settings.
May import: `models` only. Every other stage may import it.
"""

"""`monitor explain FILE` reads a labelled file exactly as `monitor eval` does: headers are not text."""

from __future__ import annotations

from tests.conftest import run_cli

KEYWORDS = """
aliases:
  places: [Khorog, Rushan]
senses:
  rushan_person:
    terms: [Rushan]
    followed_by: capitalised
topics:
  detentions:
    urgent: true
    near:
      - within: 20
        one_of: [detain]
        and_one_of: ["@places"]
"""

ARTICLE = """# lang: en
# label: relevant
# date: 2026-03-10
# note: detained in Khorog, said the header (this line is not the article)

TITLE: Lawyer held after visiting clients
A defence lawyer was detained in Khorog on Tuesday after visiting two clients in the city's remand prison.
"""


def test_explain_takes_the_title_line_and_never_counts_the_header_as_text(tmp_path):
    (tmp_path / "keywords.yaml").write_text(KEYWORDS, encoding="utf-8")
    article = tmp_path / "en_rel_lawyer.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    result = run_cli("explain", str(article), "--keywords", str(tmp_path / "keywords.yaml"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "title: Lawyer held after visiting clients" in out
    assert "label: relevant" in out and "date: 2026-03-10" in out
    assert "text: 18 words extracted" in out
    found = out.split("terms found:", 1)[1].split("topic ", 1)[0]
    assert found.count("'detained'") == 1, "only the article's own 'detained', not the header's"
    assert "urgent (rank 50): yes" in out and "on Tuesday" in out
    assert "verdict: MATCHED — detentions (urgent)" in out


def test_explain_shows_the_safety_net_and_a_sense(tmp_path):
    (tmp_path / "keywords.yaml").write_text(KEYWORDS, encoding="utf-8")
    article = tmp_path / "en_dis_person.txt"
    article.write_text("# label: distractor\nTITLE: Concert review\nRushan Aliyeva sang at the opera house in Baku. "
                       "Later, a choir from Khorog sang.\n", encoding="utf-8")
    out = run_cli("explain", str(article), "--keywords", str(tmp_path / "keywords.yaml")).stdout
    assert "read as rushan_person: followed by the capitalised word 'Aliyeva'" in out
    assert "safety net: names GBAO ('Khorog')" in out
    assert "verdict: not matched" in out

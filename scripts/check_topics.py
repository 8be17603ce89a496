#!/usr/bin/env python3
"""Validate the shipped Liar Game topic files (data/topics/*.json).

Usage: python3 scripts/check_topics.py [TOPICS_DIR]

Rules (SPEC §3.2 and the data brief):
  * at least MIN_TOPICS topic files; file name is "<topic-id>.json";
  * top level is exactly {id, name{ko,en}, words[], pairs[]}; no other keys;
  * topic id and word ids are lowercase ascii slugs; topic ids unique;
  * at least MIN_WORDS words, each exactly {id, ko, en, aliases{ko[], en[]}}
    with non-empty, trimmed strings;
  * word ids unique in the topic; ko forms unique and en forms unique in the
    topic (after NFC + casefold + removing all whitespace);
  * an alias must not equal any other word's ko/en form or any other word's
    alias in the topic (same normalisation); aliases must not repeat within
    a word or duplicate the word's own form (warnings only for the latter);
  * at least MIN_PAIRS pairs, each a list of two distinct word ids of the
    topic, no pair repeated (in either order).

Prints a summary; exits 1 on any violation, 0 otherwise.
Python 3 standard library only.
"""

import json
import re
import sys
import unicodedata
from pathlib import Path

MIN_TOPICS = 22
MIN_WORDS = 32
MIN_PAIRS = 10

SLUG_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
LANGS = ("ko", "en")


def norm(s: str) -> str:
    """Normalise a form for comparison: NFC, casefold, strip all whitespace."""
    s = unicodedata.normalize("NFC", s).casefold()
    return "".join(ch for ch in s if not ch.isspace())


class Report:
    def __init__(self):
        self.errors = []
        self.warnings = []

    def err(self, where, msg):
        self.errors.append(f"{where}: {msg}")

    def warn(self, where, msg):
        self.warnings.append(f"{where}: {msg}")


def check_text(rep, where, value):
    """A form/alias/name: non-empty string without surrounding whitespace."""
    if not isinstance(value, str):
        rep.err(where, f"expected a string, got {type(value).__name__}")
        return False
    if not value.strip():
        rep.err(where, "empty string")
        return False
    if value != value.strip():
        rep.err(where, f"leading/trailing whitespace in {value!r}")
    if unicodedata.normalize("NFC", value) != value:
        rep.err(where, f"{value!r} is not NFC-normalised")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        rep.err(where, f"control character in {value!r}")
    return True


def check_keys(rep, where, obj, keys):
    if not isinstance(obj, dict):
        rep.err(where, f"expected an object, got {type(obj).__name__}")
        return False
    missing = [k for k in keys if k not in obj]
    extra = [k for k in obj if k not in keys]
    if missing:
        rep.err(where, f"missing key(s) {missing}")
    if extra:
        rep.err(where, f"unexpected key(s) {extra}")
    return not missing


def check_topic(rep, path, data):
    """Check one topic; returns (topic_id, word_count, pair_count)."""
    where = path.name
    if not check_keys(rep, where, data, ("id", "name", "words", "pairs")):
        return None, 0, 0

    tid = data["id"]
    if not isinstance(tid, str) or not SLUG_RE.match(tid):
        rep.err(where, f"topic id {tid!r} is not a lowercase ascii slug")
    elif path.stem != tid:
        rep.err(where, f"file name does not match topic id {tid!r}")
    where = f"{path.name} [{tid}]"

    if check_keys(rep, f"{where} name", data["name"], LANGS):
        for lang in LANGS:
            check_text(rep, f"{where} name.{lang}", data["name"][lang])

    words = data["words"]
    if not isinstance(words, list):
        rep.err(where, "words must be a list")
        words = []
    if len(words) < MIN_WORDS:
        rep.err(where, f"only {len(words)} words (need >= {MIN_WORDS})")

    ids = {}                         # word id -> index
    forms = {lang: {} for lang in LANGS}  # lang -> norm form -> word id
    all_forms = {}                   # norm form (any lang) -> set of word ids
    alias_owner = {}                 # norm alias -> set of word ids
    valid_words = []

    for i, w in enumerate(words):
        wwhere = f"{where} words[{i}]"
        if not check_keys(rep, wwhere, w, ("id", "ko", "en", "aliases")):
            continue
        wid = w["id"]
        if not isinstance(wid, str) or not SLUG_RE.match(wid):
            rep.err(wwhere, f"word id {wid!r} is not a lowercase ascii slug")
            continue
        wwhere = f"{where} word {wid!r}"
        if wid in ids:
            rep.err(wwhere, "duplicate word id")
            continue
        ids[wid] = i

        ok = True
        for lang in LANGS:
            if not check_text(rep, f"{wwhere} {lang}", w[lang]):
                ok = False
                continue
            n = norm(w[lang])
            other = forms[lang].get(n)
            if other is not None:
                rep.err(wwhere, f"{lang} form {w[lang]!r} duplicates word {other!r}")
            else:
                forms[lang][n] = wid
            all_forms.setdefault(n, set()).add(wid)

        al = w["aliases"]
        if check_keys(rep, f"{wwhere} aliases", al, LANGS):
            for lang in LANGS:
                lst = al[lang]
                if not isinstance(lst, list):
                    rep.err(wwhere, f"aliases.{lang} must be a list")
                    ok = False
                    continue
                for a in lst:
                    if not check_text(rep, f"{wwhere} aliases.{lang}", a):
                        ok = False
        else:
            ok = False
        if ok:
            valid_words.append(w)

    # Alias clashes (needs every word's forms first).
    for w in valid_words:
        wid = w["id"]
        wwhere = f"{where} word {wid!r}"
        own = {norm(w[lang]) for lang in LANGS}
        seen = set()
        for lang in LANGS:
            for a in w["aliases"][lang]:
                n = norm(a)
                if n in seen:
                    rep.warn(wwhere, f"alias {a!r} repeated")
                    continue
                seen.add(n)
                clash = all_forms.get(n, set()) - {wid}
                if clash:
                    rep.err(wwhere, f"alias {a!r} equals the form of word(s) {sorted(clash)}")
                elif n in own:
                    rep.warn(wwhere, f"alias {a!r} is the same as the word's own form")
                alias_owner.setdefault(n, set()).add(wid)
    for n, owners in sorted(alias_owner.items()):
        if len(owners) > 1:
            rep.err(where, f"alias {n!r} is shared by words {sorted(owners)}")

    pairs = data["pairs"]
    if not isinstance(pairs, list):
        rep.err(where, "pairs must be a list")
        pairs = []
    if len(pairs) < MIN_PAIRS:
        rep.err(where, f"only {len(pairs)} pairs (need >= {MIN_PAIRS})")
    seen_pairs = set()
    for j, p in enumerate(pairs):
        pwhere = f"{where} pairs[{j}]"
        if not (isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)):
            rep.err(pwhere, f"pair must be a list of two word ids, got {p!r}")
            continue
        a, b = p
        for x in (a, b):
            if x not in ids:
                rep.err(pwhere, f"unknown word id {x!r}")
        if a == b:
            rep.err(pwhere, f"pair names the same word twice ({a!r})")
        key = frozenset((a, b))
        if key in seen_pairs:
            rep.err(pwhere, f"pair {p!r} repeated")
        seen_pairs.add(key)

    return tid, len(words), len(pairs)


def main(argv):
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "data" / "topics"
    rep = Report()
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 1

    files = sorted(root.glob("*.json"))
    rows = []
    topic_ids = {}
    for path in files:
        try:
            raw = path.read_bytes()
            if raw.startswith(b"\xef\xbb\xbf"):
                rep.err(path.name, "file starts with a UTF-8 BOM")
                raw = raw[3:]
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as e:
            rep.err(path.name, f"not valid UTF-8: {e}")
            continue
        except json.JSONDecodeError as e:
            rep.err(path.name, f"invalid JSON: {e}")
            continue
        tid, nw, np_ = check_topic(rep, path, data)
        if tid is not None:
            if tid in topic_ids:
                rep.err(path.name, f"topic id {tid!r} also used by {topic_ids[tid]}")
            topic_ids[tid] = path.name
        rows.append((tid or path.stem, nw, np_))

    others = sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix != ".json")
    for name in others:
        rep.warn(name, "not a .json file; ignored")

    if len(files) < MIN_TOPICS:
        rep.err(str(root), f"only {len(files)} topic files (need >= {MIN_TOPICS})")

    width = max([len(r[0]) for r in rows] + [5])
    print(f"{'topic':<{width}}  words  pairs")
    for tid, nw, np_ in rows:
        print(f"{tid:<{width}}  {nw:>5}  {np_:>5}")
    print(f"{len(rows)} topics, {sum(r[1] for r in rows)} words, {sum(r[2] for r in rows)} pairs")

    for w in rep.warnings:
        print(f"WARNING {w}")
    for e in rep.errors:
        print(f"ERROR {e}")
    if rep.errors:
        print(f"FAILED: {len(rep.errors)} violation(s), {len(rep.warnings)} warning(s)")
        return 1
    print(f"OK: all rules pass ({len(rep.warnings)} warning(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

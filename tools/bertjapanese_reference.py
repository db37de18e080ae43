#!/usr/bin/python3
"""Reference BertJapaneseTokenizer algorithm for ja-bert's tests (stdlib only).

Follows Hugging Face's tokenization_bert_japanese: NFKC, MeCab surface forms
(from the `mecab` command with the given dictionary) or no word splitting,
then WordPiece (greedy longest match first, "##" continuations, words over
100 characters -> [UNK]) or one token per character. Special tokens in the
text are kept whole.

  bertjapanese_reference.py VOCAB {mecab DICDIR|basic|none} {wordpiece|character} LOWER(0/1) < texts.json > ids.json

"basic" is google-research/bert's BasicTokenizer (no NFKC, its own lowercasing).
"""
import json
import re
import subprocess
import sys
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic(text, lower):
    out = []
    for c in text:
        cp = ord(c)
        if cp == 0 or cp == 0xFFFD:
            continue
        if c in " \t\n\r" or unicodedata.category(c) == "Zs":
            out.append(" ")
        elif unicodedata.category(c).startswith("C"):
            continue
        else:
            out.append(" " + c + " " if is_cjk(cp) else c)
    words = []
    for tok in "".join(out).strip().split():
        if lower:
            tok = "".join(ch for ch in unicodedata.normalize("NFD", tok.lower()) if unicodedata.category(ch) != "Mn")
        cur = ""
        for ch in tok:
            cp = ord(ch)
            if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or unicodedata.category(ch).startswith("P"):
                if cur:
                    words.append(cur)
                words.append(ch)
                cur = ""
            else:
                cur += ch
        if cur:
            words.append(cur)
    return words


def main():
    vocab_path, word, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    if word == "mecab":
        dic, sub, lower = arg, sys.argv[4], sys.argv[5] == "1"
    else:
        dic, sub, lower = None, arg, sys.argv[4] == "1"
    vocab = {}
    with open(vocab_path, encoding="utf-8") as f:
        for i, line in enumerate(f.read().split("\n")):
            if line and line not in vocab:
                vocab[line] = i
    texts = json.load(sys.stdin)
    specials = [s for s in SPECIALS if s in vocab]
    split_re = re.compile("(" + "|".join(re.escape(s) for s in specials) + ")")

    # every non-special stretch of every text, NFKC-normalised, in order
    parts = []
    for t in texts:
        for p in split_re.split(t):
            if p and p not in specials:
                parts.append(p if word == "basic" else unicodedata.normalize("NFKC", p))
    if word == "mecab":
        # -b: the command splits longer lines (8 KiB by default); the library, which
        # Hugging Face (fugashi) and ja-bert call, parses the whole string
        out = subprocess.run(["mecab", "-d", dic, "-r", "/dev/null", "-b", str(1 << 22)], input="\n".join(parts) + "\n",
                             capture_output=True, text=True, check=True).stdout
        words, cur = [], []
        for line in out.split("\n"):
            if line == "EOS":
                words.append(cur)
                cur = []
            elif line:
                cur.append(line.split("\t")[0])
    elif word == "basic":
        words = [basic(p, lower) for p in parts]
    else:
        words = [p.split() for p in parts]

    def wordpiece(token):
        chars = list(token)
        if len(chars) > 100:
            return ["[UNK]"]
        start, subs = 0, []
        while start < len(chars):
            end, cur = len(chars), None
            while start < end:
                s = "".join(chars[start:end])
                if start > 0:
                    s = "##" + s
                if s in vocab:
                    cur = s
                    break
                end -= 1
            if cur is None:
                return ["[UNK]"]
            subs.append(cur)
            start = end
        return subs

    result, k = [], 0
    for t in texts:
        toks = []
        for p in split_re.split(t):
            if not p:
                continue
            if p in specials:
                toks.append(p)
                continue
            for w in words[k]:
                if lower and word != "basic":
                    w = w.lower()
                if sub == "character":
                    toks.extend(c if c in vocab else "[UNK]" for c in w)
                else:
                    for x in w.split():
                        toks.extend(wordpiece(x))
            k += 1
        result.append([vocab[x] for x in toks])
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()

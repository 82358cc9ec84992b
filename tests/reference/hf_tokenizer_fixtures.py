"""SigLIP's and SigLIP 2's tokenizers as open_clip runs them, on the CLIP tokenizer's corpus.

No hub access here, so the two tokenizers are built the way their published files were: a
SentencePiece model trained on the corpus and converted by transformers' own converters —
unigram with T5's ids (pad 0, </s> 1, <unk> 2) through T5Converter (timm/ViT-B-16-SigLIP ships a
T5TokenizerFast tokenizer.json), and byte-fallback BPE with Gemma's ids (<pad> 0, <eos> 1,
<bos> 2, <unk> 3) through GemmaConverter (SigLIP 2's GemmaTokenizerFast). Each is saved with
save_pretrained (tokenizer.json, tokenizer_config.json, special_tokens_map.json) under
tests/fixtures/tokenizer/{siglip,gemma}/, and every text of tests/fixtures/tokenizer/reference.jsonl
(plus long ones) is tokenized by open_clip.tokenizer.HFTokenizer(dir, context_length=64,
clean="canonicalize") — SigLIP's configuration in open_clip — into hf_reference.jsonl:
{"text", "clean", "siglip": [64 ids], "gemma": [64 ids]}.
"""

import json
import tempfile
from pathlib import Path

import sentencepiece as spm
from open_clip.tokenizer import HFTokenizer, canonicalize_text, basic_clean
from transformers import GemmaTokenizer, GemmaTokenizerFast, T5Tokenizer, T5TokenizerFast

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "tokenizer"


def corpus():
    texts = [json.loads(line)["text"] for line in (ROOT / "reference.jsonl").open()]
    texts += [
        "a photo of a " + "very " * 80 + "long caption",
        "Ünïcödé ＦＵＬＬＷＩＤＴＨ and emoji 🐈‍⬛ in a row, " * 6,
        "snake_case_words and under_scores__ (brackets) [x] {y} <z>",
    ]
    return texts


def train(texts, work, name, vocab_size, **options):
    source = work / "corpus.txt"
    source.write_text("\n".join(canonicalize_text(basic_clean(t)) for t in texts) + "\n")
    spm.SentencePieceTrainer.train(
        input=str(source), model_prefix=str(work / name), vocab_size=vocab_size,
        hard_vocab_limit=False, character_coverage=0.98, **options)
    return str(work / f"{name}.model")


def main():
    texts = corpus()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        unigram = train(texts, work, "siglip", 1000, model_type="unigram",
                        pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
        slow = T5Tokenizer(vocab_file=unigram, extra_ids=0, legacy=False)
        fast = T5TokenizerFast(__slow_tokenizer=slow, vocab_file=unigram, extra_ids=0,
                               from_slow=True, legacy=False)
        fast.save_pretrained(ROOT / "siglip", legacy_format=False)
        bpe = train(texts, work, "gemma", 1600, model_type="bpe", byte_fallback=True,
                    pad_id=0, eos_id=1, bos_id=2, unk_id=3)
        slow = GemmaTokenizer(vocab_file=bpe)
        fast = GemmaTokenizerFast(__slow_tokenizer=slow, vocab_file=bpe, from_slow=True)
        fast.save_pretrained(ROOT / "gemma", legacy_format=False)
    for name in ["siglip", "gemma"]:
        for extra in ["spiece.model", "tokenizer.model"]:
            (ROOT / name / extra).unlink(missing_ok=True)
    siglip = HFTokenizer(str(ROOT / "siglip"), context_length=64, clean="canonicalize")
    gemma = HFTokenizer(str(ROOT / "gemma"), context_length=64, clean="canonicalize")
    with (ROOT / "hf_reference.jsonl").open("w") as out:
        for text in texts:
            row = {
                "text": text,
                "clean": canonicalize_text(basic_clean(text)),
                "siglip": siglip(text)[0].tolist(),
                "gemma": gemma(text)[0].tolist(),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print("wrote", len(texts), "texts to", ROOT / "hf_reference.jsonl")


if __name__ == "__main__":
    main()

"""A tiny "pretrained" Idefics3 checkpoint saved with its processor, for the real-weight path offline.

Exports :func:`save_tiny_pretrained_vlm`.
"""

import copy

from models.vlm import PRESETS


def save_tiny_pretrained_vlm(path):
    """Save a random-init ``tiny`` Idefics3 model with a processor (a word-level tokenizer and the
    Idefics3 image processor) in ``path``: the same ``from_pretrained`` path as a downloaded
    SmolVLM directory, offline."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessorPil,
        Idefics3Processor,
        PreTrainedTokenizerFast,
    )

    special = ["<end_of_utterance>", "<image>", "<fake_token_around_image>", "<global-img>"]
    words = ["<unk>", "<s>", "<pad>", *special, "User", "Assistant", ":", "Describe", "this", "image"] + [f"w{i}" for i in range(40)]
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", pad_token="<pad>", additional_special_tokens=special)
    cfg = copy.deepcopy(PRESETS["tiny"]["config"])
    cfg["image_token_id"] = vocab["<image>"]
    cfg["text_config"]["vocab_size"] = 64
    Idefics3ForConditionalGeneration(Idefics3Config(**cfg)).save_pretrained(path)
    template = (
        "{% for m in messages %}{{ m['role'] | capitalize }}:{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
        "{% else %} {{ c['text'] }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
    )
    images = Idefics3ImageProcessorPil(size={"longest_edge": 64}, max_image_size={"longest_edge": 64}, do_image_splitting=False)
    Idefics3Processor(image_processor=images, tokenizer=tokenizer, image_seq_len=4, chat_template=template).save_pretrained(path)


"""CTranslate2 Whisper ⇄ transformers: read the model we ship into torch, write a trained one back.

CTranslate2 has converters to its format but none from it, so `read_ct2` reads `model.bin`
by its documented binary layout (ctranslate2/specs/model_spec.py, `_serialize`): a header,
then each variable as name, shape, dtype and bytes, then aliases. `to_transformers` undoes
what ctranslate2's Whisper converter does: it split fused projections (self-attention Q/K/V,
cross-attention K/V, whose K has no bias) and ties the output projection to the embeddings.
`export_ct2` goes back through ctranslate2's own converter machinery.

Only the functions that build a torch model import torch and transformers (`dictee[adapt]`).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import ModelError

# ctranslate2's DataType enum (include/ctranslate2/types.h); bfloat16 has no numpy type.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
SUPPORTED_BINARY_VERSIONS = (5, 6)
MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


@dataclass(frozen=True, slots=True)
class Ct2Model:
    spec: str
    variables: dict[str, np.ndarray]  # aliases resolved: every name maps to its array
    config: dict


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def number(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        length = self.number("H")  # counts the trailing NUL
        text = self.data[self.pos:self.pos + length - 1].decode("utf-8")
        self.pos += length
        return text

    def array(self, dtype: int, shape: list[int], size: int) -> np.ndarray:
        if dtype not in _DTYPES:
            raise ModelError(f"CTranslate2 dtype {dtype} not supported for adaptation (float32/16, int8 are)")
        raw = np.frombuffer(self.data, dtype=_DTYPES[dtype], count=size // np.dtype(_DTYPES[dtype]).itemsize,
                            offset=self.pos)
        self.pos += size
        return raw.reshape(shape)


def read_ct2(model_dir: Path) -> Ct2Model:
    """A CTranslate2 Whisper model as numpy arrays, int8 weights dequantized to float32."""
    try:
        reader = _Reader((model_dir / "model.bin").read_bytes())
        version = reader.number("I")
        if version not in SUPPORTED_BINARY_VERSIONS:
            raise ModelError(f"CTranslate2 model format {version} not supported for adaptation")
        spec = reader.string()
        reader.number("I")  # spec revision
        variables: dict[str, np.ndarray] = {}
        for _ in range(reader.number("I")):
            name = reader.string()
            shape = [reader.number("I") for _ in range(reader.number("B"))]
            dtype = reader.number("B")
            variables[name] = reader.array(dtype, shape, reader.number("I"))
        for _ in range(reader.number("I")):
            alias, target = reader.string(), reader.string()
            variables[alias] = variables[target]
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, struct.error, ValueError, UnicodeDecodeError) as error:
        raise ModelError(f"modèle illisible / unreadable model at {model_dir} ({type(error).__name__})") from None
    if spec != "WhisperSpec":
        raise ModelError(f"not a Whisper model ({spec})")
    return Ct2Model(spec, _dequantized(variables), config)


def _dequantized(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CTranslate2 stores int8 rows as round(w · scale) with one scale per output row."""
    out = {}
    for name, value in variables.items():
        if name.endswith("/weight_scale"):
            continue
        scale = variables.get(name.removesuffix("weight") + "weight_scale") if name.endswith("/weight") else None
        if scale is not None and value.dtype == np.int8:
            value = value.astype(np.float32) / scale.astype(np.float32).reshape(-1, *([1] * (value.ndim - 1)))
        out[name] = value
    return out


def _count_layers(names, prefix: str) -> int:
    found = {int(m.group(1)) for name in names if (m := re.match(rf"{prefix}/layer_(\d+)/", name))}
    return max(found) + 1


def whisper_config(model: Ct2Model):
    """transformers' WhisperConfig for these weights (sizes read off the tensors)."""
    from transformers import WhisperConfig

    v = model.variables
    vocab_size, d_model = v["decoder/embeddings/weight"].shape
    return WhisperConfig(
        vocab_size=int(vocab_size),
        num_mel_bins=int(v["encoder/conv1/weight"].shape[1]),
        d_model=int(d_model),
        encoder_layers=_count_layers(v, "encoder"),
        decoder_layers=_count_layers(v, "decoder"),
        encoder_attention_heads=int(v["encoder/num_heads"]),
        decoder_attention_heads=int(v["decoder/num_heads"]),
        encoder_ffn_dim=int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(v["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(v["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(v["decoder/position_encodings/encodings"].shape[0]),
        suppress_tokens=model.config.get("suppress_ids"),
        begin_suppress_tokens=model.config.get("suppress_ids_begin"),
        tie_word_embeddings=True,
    )


def _linear(out: dict, hf: str, ct: str, v: dict) -> None:
    out[f"{hf}.weight"] = v[f"{ct}/weight"]
    if f"{ct}/bias" in v:
        out[f"{hf}.bias"] = v[f"{ct}/bias"]


def _norm(out: dict, hf: str, ct: str, v: dict) -> None:
    out[f"{hf}.weight"], out[f"{hf}.bias"] = v[f"{ct}/gamma"], v[f"{ct}/beta"]


def _split_projections(out: dict, hf: str, ct: str, v: dict, names: tuple[str, ...]) -> None:
    """A fused CTranslate2 projection back into q/k/v_proj; k_proj has no bias in Whisper."""
    weights = np.split(v[f"{ct}/weight"], len(names))
    biases = np.split(v[f"{ct}/bias"], len(names))
    for name, weight, bias in zip(names, weights, biases):
        out[f"{hf}.{name}.weight"] = weight
        if name != "k_proj":
            out[f"{hf}.{name}.bias"] = bias


def state_dict_of(model: Ct2Model) -> dict[str, np.ndarray]:
    """transformers' parameter names → arrays."""
    v, out = model.variables, {}
    for side in ("encoder", "decoder"):
        hf_side = f"model.{side}"
        out[f"{hf_side}.embed_positions.weight"] = v[f"{side}/position_encodings/encodings"]
        _norm(out, f"{hf_side}.layer_norm", f"{side}/layer_norm", v)
        for i in range(_count_layers(v, side)):
            hf, ct = f"{hf_side}.layers.{i}", f"{side}/layer_{i}"
            _split_projections(out, f"{hf}.self_attn", f"{ct}/self_attention/linear_0", v, ("q_proj", "k_proj", "v_proj"))
            _linear(out, f"{hf}.self_attn.out_proj", f"{ct}/self_attention/linear_1", v)
            _norm(out, f"{hf}.self_attn_layer_norm", f"{ct}/self_attention/layer_norm", v)
            if side == "decoder":
                _linear(out, f"{hf}.encoder_attn.q_proj", f"{ct}/attention/linear_0", v)
                _split_projections(out, f"{hf}.encoder_attn", f"{ct}/attention/linear_1", v, ("k_proj", "v_proj"))
                _linear(out, f"{hf}.encoder_attn.out_proj", f"{ct}/attention/linear_2", v)
                _norm(out, f"{hf}.encoder_attn_layer_norm", f"{ct}/attention/layer_norm", v)
            _linear(out, f"{hf}.fc1", f"{ct}/ffn/linear_0", v)
            _linear(out, f"{hf}.fc2", f"{ct}/ffn/linear_1", v)
            _norm(out, f"{hf}.final_layer_norm", f"{ct}/ffn/layer_norm", v)
    for conv in ("conv1", "conv2"):
        _linear(out, f"model.encoder.{conv}", f"encoder/{conv}", v)
    out["model.decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    out["proj_out.weight"] = v.get("decoder/projection/weight", v["decoder/embeddings/weight"])
    return out


def to_transformers(model_dir: Path):
    """The CTranslate2 model as transformers' WhisperForConditionalGeneration, float32, every
    parameter loaded (a strict load: nothing missing, nothing left over)."""
    import torch
    from transformers import WhisperForConditionalGeneration

    ct2 = read_ct2(model_dir)
    whisper = WhisperForConditionalGeneration(whisper_config(ct2))
    state = {name: torch.from_numpy(np.array(value, dtype=np.float32)) for name, value in state_dict_of(ct2).items()}
    whisper.load_state_dict(state, strict=True)
    whisper.eval()
    return whisper


def export_ct2(whisper, source_dir: Path, target_dir: Path, *, quantization: str = "int8") -> Path:
    """Write a transformers Whisper as a CTranslate2 model with ctranslate2's converter,
    keeping the source model's tokenizer, vocabulary and decoding config (alignment heads,
    suppressed tokens, languages): training changes weights, not those."""
    from ctranslate2.converters.converter import Converter
    from ctranslate2.converters.transformers import WhisperLoader

    source_config = json.loads((source_dir / "config.json").read_text(encoding="utf-8"))
    vocabulary = json.loads((source_dir / "vocabulary.json").read_text(encoding="utf-8"))

    class _InMemory(Converter):
        def _load(self):
            spec = WhisperLoader().get_model_spec(whisper)
            for key, value in source_config.items():
                setattr(spec.config, key, value)
            spec.register_vocabulary(vocabulary)
            spec.register_file(str(source_dir / "tokenizer.json"))
            return spec

    import torch

    with torch.no_grad():
        _InMemory().convert(str(target_dir), quantization=quantization, force=True)
    # The source's config.json verbatim: the converter rewrites it from the spec.
    shutil.copyfile(source_dir / "config.json", target_dir / "config.json")
    shutil.copyfile(source_dir / "vocabulary.json", target_dir / "vocabulary.json")
    return target_dir

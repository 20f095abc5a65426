#!/usr/bin/python3
"""Writes tiny but real test models, and a corpus of malicious ones, into the folder given.

Benign: a torch.save zip checkpoint, a legacy (non-zip) checkpoint, an ONNX graph, a Hugging Face
folder (config.json, safetensors, tokenizer, licence), a GGUF file, a numpy array.
Malicious: one sample per known bypass of block-list pickle scanners, plus archive and metadata
attacks. Every sample's expected verdict is in manifest.json. Nothing here is executed: the
malicious pickles are written as bytes or with __reduce__ and never loaded.

Needs Debian's python3-torch and python3-onnx (scripts/services/python-ml.sh).
"""
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
manifest = []


def add(name, expect, why):
    manifest.append({"path": name, "expect": expect, "why": why})


def p(*parts):
    path = os.path.join(out, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


torch.manual_seed(0)

# --- benign -----------------------------------------------------------------------------------
net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
torch.save(net.state_dict(), p("benign", "model.pt"))
add("benign/model.pt", "safe", "torch.save zip checkpoint of a state dict (67 parameters)")
torch.save(net.state_dict(), p("benign", "legacy.pt"), _use_new_zipfile_serialization=False)
add("benign/legacy.pt", "safe", "legacy torch.save checkpoint (pickles back to back)")
half = {"emb.weight": torch.zeros(10, 4, dtype=torch.float16), "nested": {"w": torch.ones(2, 3, dtype=torch.bfloat16)}}
torch.save(half, p("benign", "half.pt"))
add("benign/half.pt", "safe", "checkpoint with fp16 and bf16 tensors in a nested dict")

W = numpy_helper.from_array(np.ones((4, 3), dtype=np.float32), name="W")
B = numpy_helper.from_array(np.zeros((3,), dtype=np.float32), name="B")
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "B"], ["y"]), helper.make_node("Relu", ["y"], ["z"])],
    "tiny",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
    [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 3])],
    [W, B],
)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="catapult-fixtures"), p("benign", "model.onnx"))
add("benign/model.onnx", "safe", "ONNX graph: MatMul, Add, Relu; 15 parameters; opset 13")


def write_safetensors(path, tensors, metadata=None):
    header = {}
    offset = 0
    blobs = []
    for name, arr in tensors.items():
        data = arr.tobytes()
        dtype = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int64"): "I64"}[arr.dtype]
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# A Llama-shaped Hugging Face folder: 2 layers, hidden 16, 4 heads, 2 KV heads, vocab 32.
cfg = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16, "intermediate_size": 32,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 32,
    "max_position_embeddings": 128, "torch_dtype": "float16",
}
hf = {}
hf["model.embed_tokens.weight"] = np.zeros((32, 16), dtype=np.float16)
for i in range(2):
    pre = f"model.layers.{i}."
    hf[pre + "self_attn.q_proj.weight"] = np.zeros((16, 16), dtype=np.float16)
    hf[pre + "self_attn.k_proj.weight"] = np.zeros((8, 16), dtype=np.float16)
    hf[pre + "self_attn.v_proj.weight"] = np.zeros((8, 16), dtype=np.float16)
    hf[pre + "self_attn.o_proj.weight"] = np.zeros((16, 16), dtype=np.float16)
    hf[pre + "mlp.gate_proj.weight"] = np.zeros((32, 16), dtype=np.float16)
    hf[pre + "mlp.up_proj.weight"] = np.zeros((32, 16), dtype=np.float16)
    hf[pre + "mlp.down_proj.weight"] = np.zeros((16, 32), dtype=np.float16)
    hf[pre + "input_layernorm.weight"] = np.ones((16,), dtype=np.float16)
    hf[pre + "post_attention_layernorm.weight"] = np.ones((16,), dtype=np.float16)
hf["model.norm.weight"] = np.ones((16,), dtype=np.float16)
hf["lm_head.weight"] = np.zeros((32, 16), dtype=np.float16)
write_safetensors(p("hf-llama", "model.safetensors"), hf, {"format": "pt"})
json.dump(cfg, open(p("hf-llama", "config.json"), "w"))
vocab = {f"t{i}": i for i in range(30)}
json.dump({"version": "1.0", "added_tokens": [{"id": 30, "content": "<s>", "special": True}, {"id": 31, "content": "</s>", "special": True}],
           "model": {"type": "BPE", "vocab": vocab, "merges": []}}, open(p("hf-llama", "tokenizer.json"), "w"))
json.dump({"bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "LlamaTokenizer",
           "chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"}, open(p("hf-llama", "tokenizer_config.json"), "w"))
open(p("hf-llama", "LICENSE"), "w").write("                                 Apache License\n                           Version 2.0, January 2004\n")
add("hf-llama", "safe", "Hugging Face folder: Llama config, safetensors, tokenizer, Apache-2.0 licence")

write_safetensors(p("benign", "weights.safetensors"), {"a": np.zeros((3, 5), dtype=np.float32), "b": np.zeros((7,), dtype=np.int64)})
add("benign/weights.safetensors", "safe", "safetensors file, 22 parameters")

np.save(p("benign", "array.npy"), np.arange(12, dtype=np.float32))
add("benign/array.npy", "safe", "plain numpy array, no pickle")


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, kv, tensors):
    """A tiny GGUF v3 writer: string, uint32 and string-array values; F32 tensors."""
    body = b""
    for k, v in kv.items():
        body += gguf_string(k)
        if isinstance(v, str):
            body += struct.pack("<I", 8) + gguf_string(v)
        elif isinstance(v, list):
            body += struct.pack("<I", 9) + struct.pack("<I", 8) + struct.pack("<Q", len(v)) + b"".join(gguf_string(x) for x in v)
        else:
            body += struct.pack("<I", 4) + struct.pack("<I", v)
    offset = 0
    datas = []
    for name, arr in tensors.items():
        body += gguf_string(name) + struct.pack("<I", arr.ndim) + b"".join(struct.pack("<Q", d) for d in reversed(arr.shape))
        body += struct.pack("<I", 0) + struct.pack("<Q", offset)
        data = arr.astype(np.float32).tobytes()
        pad = (32 - len(data) % 32) % 32
        datas.append(data + b"\0" * pad)
        offset += len(data) + pad
    head = b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", len(tensors)) + struct.pack("<Q", len(kv)) + body
    head += b"\0" * ((32 - len(head) % 32) % 32)
    with open(path, "wb") as f:
        f.write(head)
        for d in datas:
            f.write(d)


gguf_kv = {
    "general.architecture": "llama", "general.name": "tiny-llama", "general.file_type": 0,
    "llama.context_length": 256, "llama.embedding_length": 16, "llama.block_count": 2,
    "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2,
    "tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": [f"t{i}" for i in range(8)],
    "tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
    "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
}
write_gguf(p("benign", "tiny.gguf"), gguf_kv, {"token_embd.weight": np.zeros((8, 16)), "output_norm.weight": np.ones((16,))})
add("benign/tiny.gguf", "safe", "GGUF v3 llama, 2 tensors, 144 parameters")

# --- malicious pickles --------------------------------------------------------------------------
# Written as raw opcodes so each one uses exactly the trick named, and none is ever loaded.
CMD = b"echo pwned > /tmp/catapult-pwned"


def bu(s):  # SHORT_BINUNICODE
    return b"\x8c" + bytes([len(s)]) + s


samples = {
    # __reduce__ returning (os.system, (cmd,)), protocol 2 GLOBAL.
    "reduce_os.pkl": b"\x80\x02cos\nsystem\nq\x00" + b"X" + struct.pack("<I", len(CMD)) + CMD + b"\x85q\x01Rq\x02.",
    # Protocol 4 STACK_GLOBAL: module and name pushed as strings, memoised, then fetched back.
    "stack_global.pkl": b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00" + bu(b"posix") + b"\x94" + bu(b"system") + b"\x94\x93\x94"
    + b"h\x00h\x01\x86\x94" + b"0" + b"X" + struct.pack("<I", len(CMD)) + CMD + b"\x85R.",
    # STACK_GLOBAL whose name is built indirectly (not a plain string): cannot be resolved, so unsafe.
    "stack_global_opaque.pkl": b"\x80\x04" + bu(b"os") + b"N\x93N\x85R.",
    # __reduce__ to runpy (block lists that only know os/subprocess miss it).
    "runpy.pkl": b"\x80\x02crunpy\n_run_code\nX" + struct.pack("<I", 17) + b"import os;os.ex()" + b"}\x86R.",
    # builtins.getattr chain: getattr(builtins.__import__('os'), 'system')('...').
    "getattr_chain.pkl": b"\x80\x02cbuiltins\ngetattr\ncbuiltins\n__import__\nX\x02\x00\x00\x00os\x85RX\x06\x00\x00\x00system\x86RX"
    + struct.pack("<I", len(CMD)) + CMD + b"\x85R.",
    # Protocol 0, all text: no PROTO opcode at all.
    "proto0.pkl": b"csubprocess\ncheck_output\n(S'" + CMD + b"'\ntR.",
    # An innocent-looking global that is not on the allow-list (fail closed).
    "unknown_global.pkl": b"\x80\x02cmylib.helpers\nload_everything\n)R.",
    # INST opcode (protocol 0 class instantiation) on webbrowser.open.
    "inst.pkl": b"(S'http://example.invalid'\niwebbrowser\nopen\n.",
    # EXT1: a global through the copyreg extension registry, invisible to the scanner.
    "ext.pkl": b"\x80\x02\x82\x01)R.",
}
for name, data in samples.items():
    open(p("malicious", name), "wb").write(data)
    add(f"malicious/{name}", "unsafe", name)

# A torch.save zip whose data.pkl is replaced by a malicious pickle.
good = io.BytesIO()
torch.save(net.state_dict(), good)


def rewrite_zip(src_bytes, dst, replace=None, extra=None):
    zin = zipfile.ZipFile(io.BytesIO(src_bytes))
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if replace and item.filename.endswith(replace[0]):
                data = replace[1]
            zout.writestr(item, data)
        for n, d in (extra or {}).items():
            zout.writestr(n, d)


rewrite_zip(good.getvalue(), p("malicious", "torch_data_pkl.pt"), replace=("data.pkl", samples["reduce_os.pkl"]))
add("malicious/torch_data_pkl.pt", "unsafe", "torch zip checkpoint whose data.pkl calls os.system")
rewrite_zip(good.getvalue(), p("malicious", "torch_nested_member.pt"), extra={"archive/extra/state.bin": samples["runpy.pkl"]})
add("malicious/torch_nested_member.pt", "unsafe", "benign data.pkl plus a pickle hidden in another member")
inner = io.BytesIO()
with zipfile.ZipFile(inner, "w") as z:
    z.writestr("evil/data.pkl", samples["proto0.pkl"])
rewrite_zip(good.getvalue(), p("malicious", "torch_zip_in_zip.pt"), extra={"archive/bundle.zip": inner.getvalue()})
add("malicious/torch_zip_in_zip.pt", "unsafe", "a zip inside the checkpoint holding a protocol 0 pickle")
rewrite_zip(good.getvalue(), p("malicious", "zip_traversal.pt"), extra={"../../../../tmp/evil.sh": b"#!/bin/sh\necho pwned\n"})
add("malicious/zip_traversal.pt", "unsafe", "zip member named ../../../../tmp/evil.sh (zip slip)")

# Legacy checkpoint whose object pickle is malicious (sys_info pickles first, then the object).
legacy = io.BytesIO()
pickle.dump(0x1950A86A20F9469CFC6C, legacy, protocol=2)
pickle.dump(1001, legacy, protocol=2)
pickle.dump({"protocol_version": 1001, "little_endian": True}, legacy, protocol=2)
legacy.write(samples["getattr_chain.pkl"])
open(p("malicious", "legacy_checkpoint.pt"), "wb").write(legacy.getvalue())
add("malicious/legacy_checkpoint.pt", "unsafe", "legacy checkpoint: the third pickle is a getattr chain")

# numpy object array: np.load(allow_pickle=True) unpickles what follows the header.
hdr = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
hdr += b" " * (64 - 10 - len(hdr) - 1) + b"\n"
open(p("malicious", "object_array.npy"), "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr + samples["reduce_os.pkl"])
add("malicious/object_array.npy", "unsafe", "numpy object array whose pickle calls os.system")

# joblib-style file: a pickle named .joblib.
open(p("malicious", "model.joblib"), "wb").write(samples["stack_global.pkl"])
add("malicious/model.joblib", "unsafe", "joblib file (a pickle) using STACK_GLOBAL")

# ONNX whose external data escapes the model folder.
ext = TensorProto()
ext.name = "W"
ext.data_type = TensorProto.FLOAT
ext.dims.extend([4, 3])
ext.data_location = TensorProto.EXTERNAL
for k, v in (("location", "../../../../etc/passwd"), ("offset", "0"), ("length", "48")):
    e = ext.external_data.add()
    e.key, e.value = k, v
g2 = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["z"])], "escape", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                       [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3])], [ext])
onnx.save(helper.make_model(g2, opset_imports=[helper.make_opsetid("", 13)]), p("malicious", "onnx-escape", "model.onnx"))
add("malicious/onnx-escape", "unsafe", "ONNX external data path ../../../../etc/passwd")

# Keras saved config with a Lambda layer (its function is marshalled bytecode).
keras_cfg = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {"units": 2}},
                                                              {"class_name": "Lambda", "config": {"function": ["4wEAAAAAAAAA", None, None]}}]}}
with zipfile.ZipFile(p("malicious", "lambda.keras"), "w") as z:
    z.writestr("config.json", json.dumps(keras_cfg))
    z.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
add("malicious/lambda.keras", "unsafe", "Keras archive with a Lambda layer")

# GGUF whose chat template reaches Python objects (Jinja SSTI).
evil_kv = dict(gguf_kv)
evil_kv["tokenizer.chat_template"] = "{{ ''.__class__.__mro__[1].__subclasses__() }}{{ cycler.__init__.__globals__.os.popen('id').read() }}"
write_gguf(p("malicious", "ssti.gguf"), evil_kv, {"token_embd.weight": np.zeros((8, 16))})
add("malicious/ssti.gguf", "unsafe", "GGUF chat template reaching __globals__ and os.popen")

# --- bad input ----------------------------------------------------------------------------------
with open(p("bad", "truncated.safetensors"), "wb") as f:
    data = open(p("benign", "weights.safetensors"), "rb").read()
    f.write(data[: len(data) // 2])
with open(p("bad", "petabytes.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", 2**50) + b'{"a": 1}')
open(p("bad", "liar.safetensors"), "wb").write(b"PK\x03\x04 this is not what it says it is" * 4)
open(p("bad", "truncated.pkl"), "wb").write(samples["reduce_os.pkl"][:-6])
import shutil
shutil.copy(p("benign", "model.onnx"), p("bad", "two-models", "a.onnx"))
shutil.copy(p("benign", "tiny.gguf"), p("bad", "two-models", "b.gguf"))

json.dump(manifest, open(p("manifest.json"), "w"), indent=1)
print(f"wrote {len(manifest)} samples to {out}")

# Writes an OpenAI-layout CLIP TorchScript archive for load.test.ts (Debian's PyTorch 1.13:
# `/usr/bin/python3 make_openai_archive.py WEIGHTS.safetensors CONFIG.json OUT.pt [script|trace]`).
# The model is OpenAI's CLIP (ViT image encoder) module tree, names as in OpenAI's model.py, with the
# input_resolution / context_length / vocab_size buffers that OpenAI's archives carry; its weights come
# from the safetensors file (parsed here with json + numpy), so the test can compare what it reads back.
import collections
import json
import struct
import sys
from typing import Optional

import numpy
import torch
from torch import nn

weights_path, config_path, out, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
c = json.load(open(config_path))


def read_safetensors(path):
    raw = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    dtypes = {'F32': numpy.float32, 'F16': numpy.float16, 'I64': numpy.int64}
    out = collections.OrderedDict()
    for name, info in header.items():
        if name == '__metadata__':
            continue
        b, e = info['data_offsets']
        out[name] = torch.from_numpy(numpy.frombuffer(data[b:e], dtype=dtypes[info['dtype']]).reshape(info['shape']).copy())
    return out


class LayerNorm(nn.LayerNorm):
    def forward(self, x: torch.Tensor):
        return nn.functional.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps).type(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    attn_mask: Optional[torch.Tensor]

    def __init__(self, d_model: int, n_head: int, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(collections.OrderedDict([
            ('c_fc', nn.Linear(d_model, d_model * 4)), ('gelu', QuickGELU()), ('c_proj', nn.Linear(d_model * 4, d_model))]))
        self.ln_2 = LayerNorm(d_model)
        self.attn_mask = attn_mask

    def forward(self, x: torch.Tensor):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=self.attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, attn_mask) for _ in range(layers)])

    def forward(self, x: torch.Tensor):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, heads, output_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch_size, patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x: torch.Tensor):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x).permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self):
        super().__init__()
        self.visual = VisionTransformer(c['image_resolution'], c['vision_patch_size'], c['vision_width'], c['vision_layers'],
                                        c['vision_width'] // 64, c['embed_dim'])
        mask = torch.empty(c['context_length'], c['context_length']).fill_(float('-inf')).triu_(1)
        self.transformer = Transformer(c['transformer_width'], c['transformer_layers'], c['transformer_heads'], mask)
        self.token_embedding = nn.Embedding(c['vocab_size'], c['transformer_width'])
        self.positional_embedding = nn.Parameter(torch.empty(c['context_length'], c['transformer_width']))
        self.ln_final = LayerNorm(c['transformer_width'])
        self.text_projection = nn.Parameter(torch.empty(c['transformer_width'], c['embed_dim']))
        self.logit_scale = nn.Parameter(torch.ones([]))
        # OpenAI's archives carry these as tensors beside the weights; build_model deletes them.
        self.register_buffer('input_resolution', torch.tensor(c['image_resolution']))
        self.register_buffer('context_length', torch.tensor(c['context_length']))
        self.register_buffer('vocab_size', torch.tensor(c['vocab_size']))

    def forward(self, image: torch.Tensor, text: torch.Tensor):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.ln_final(self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2))
        t = x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection
        return self.visual(image) @ t.t() * self.logit_scale.exp()


model = CLIP().eval()
state = read_safetensors(weights_path)
for key in ['input_resolution', 'context_length', 'vocab_size']:
    state[key] = getattr(model, key)
model.load_state_dict(state, strict=True)
if mode == 'script':
    archive = torch.jit.script(model)
else:
    image = torch.randn(1, 3, c['image_resolution'], c['image_resolution'])
    text = torch.zeros(1, c['context_length'], dtype=torch.int64)
    archive = torch.jit.trace(model, (image, text), check_trace=False)
archive.save(out)

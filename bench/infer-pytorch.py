# The PyTorch side of bench/infer.ts: the same ViT-B/32 BIKE video model (CLIP's image encoder, the
# temporal transformer head, Video Concept Spotting against fixed class features) on the same libtorch,
# with the weights and inputs the benchmark wrote (safetensors, read here with numpy). Settings come as
# JSON in argv[1]; then it answers one command per stdin line with one JSON line so the sides take
# turns: `info`, `run <videos>`, `export <path>`, `exit`.
import json
import struct
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg['threads'])


def read_safetensors(path):
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {'F32': np.float32, 'I64': np.int64}
    out = OrderedDict()
    for name, info in header.items():
        if name == '__metadata__':
            continue
        start, end = info['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data[start:end], dtype=dtypes[info['dtype']]).reshape(info['shape']).copy())
    return out


class LayerNorm(nn.LayerNorm):
    """CLIP's LayerNorm: half inputs computed in float32."""
    def forward(self, x):
        t = x.dtype
        return super().forward(x.type(torch.float32)).type(t)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class TfLayerNorm(nn.Module):
    """BIKE's temporal head LayerNorm (TF style, eps inside the square root)."""
    def __init__(self, width, eps=1e-12):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))
        self.eps = eps

    def forward(self, x):
        u = x.mean(-1, keepdim=True)
        s = (x - u).pow(2).mean(-1, keepdim=True)
        return self.weight * ((x - u) / torch.sqrt(s + self.eps)) + self.bias


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, norm):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = norm(width)
        self.mlp = nn.Sequential(OrderedDict([('c_fc', nn.Linear(width, width * 4)), ('gelu', QuickGELU()), ('c_proj', nn.Linear(width * 4, width))]))
        self.ln_2 = norm(width)

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, norm):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, norm) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisualTransformer(nn.Module):
    def __init__(self, resolution, patch, width, layers, heads, output_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        grid = resolution // patch
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros(grid * grid + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, LayerNorm)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device)
        x = torch.cat([cls, x], dim=1)
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


def unit(x):
    return x / x.norm(dim=-1, keepdim=True)


class VideoHead(nn.Module):
    """sim_header 'Transf' + Video Concept Spotting, as BIKE's video_header and VCS."""
    def __init__(self, dim, context, layers, heads):
        super().__init__()
        self.frame_position_embeddings = nn.Embedding(context, dim)
        self.transformer = Transformer(dim, layers, heads, TfLayerNorm)

    def forward(self, video, tokens, cls, temperature):
        t = video.shape[1]
        original = video.contiguous()
        positions = self.frame_position_embeddings(torch.arange(t, device=video.device))
        x = self.transformer((original + positions).permute(1, 0, 2)).permute(1, 0, 2)
        video = x.type(original.dtype) + original
        frames = unit(video)
        words = unit(tokens)
        weights = torch.softmax(torch.einsum('awd,btd->abwt', words, frames) / temperature, dim=-1).mean(-2)
        spotted = torch.einsum('abt,btd->abd', weights, frames)
        return torch.einsum('abd,ad->ab', spotted, unit(cls)).transpose(1, 0)


class VideoModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.visual = VisualTransformer(c['resolution'], c['patch'], c['width'], c['layers'], c['heads'], c['embed'])
        self.head = VideoHead(c['embed'], c['context'], c['head_layers'], c['head_heads'])
        self.register_buffer('class_tokens', torch.zeros(c['classes'], c['context'], c['embed']))
        self.register_buffer('class_cls', torch.zeros(c['classes'], c['embed']))
        self.T = c['frames']
        self.temperature = c['temperature']

    def forward(self, frames):
        features = self.visual(frames)
        return self.head(features.view(-1, self.T, features.shape[-1]), self.class_tokens, self.class_cls, self.temperature)


tensors = read_safetensors(cfg['weights'])
model = VideoModel(cfg['model']).eval()
model.load_state_dict({k: v for k, v in tensors.items() if not k.startswith('input.')}, strict=True)
inputs = {int(k.split('.')[1]): v for k, v in tensors.items() if k.startswith('input.')}


def reply(value):
    sys.stdout.write(json.dumps(value) + '\n')
    sys.stdout.flush()


reply({'ready': True})
for line in sys.stdin:
    command, *args = line.split()
    if command == 'info':
        reply({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'parameters': sum(p.numel() for p in model.parameters())})
    elif command == 'run':
        x = inputs[int(args[0])]
        with torch.no_grad():
            start = time.perf_counter()
            y = model(x)
            ms = (time.perf_counter() - start) * 1000
        reply({'ms': ms, 'output': y.flatten().tolist() if len(args) > 1 else None})
    elif command == 'export':
        with torch.no_grad():
            torch.onnx.export(model, (inputs[1],), args[0], input_names=['frames'], output_names=['logits'],
                              dynamic_axes={'frames': {0: 'frames'}, 'logits': {0: 'videos'}}, opset_version=14)
        reply({'exported': args[0]})
    elif command == 'exit':
        break
    else:
        reply({'error': f'unknown command {command!r}'})

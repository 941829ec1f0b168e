# The PyTorch side of bench/engine.ts: the same transformer (CLIP's residual attention blocks) and
# the same training step, on the same libtorch. Settings come as JSON in argv[1]; then it answers
# one command per stdin line with one JSON line, so that the two sides can take turns (fair timing
# on a machine whose load changes): `info`, `step`, `op`, `exit`.
import json
import sys
import time
from collections import OrderedDict

import torch
from torch import nn

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg['threads'])
torch.manual_seed(0)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ('c_fc', nn.Linear(d_model, d_model * 4)),
            ('gelu', QuickGELU()),
            ('c_proj', nn.Linear(d_model * 4, d_model)),
        ]))
        self.ln_2 = nn.LayerNorm(d_model)

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


device = cfg.get('device', 'cpu')
model = nn.Sequential(*[ResidualAttentionBlock(cfg['width'], cfg['heads']) for _ in range(cfg['layers'])]).to(device)
model.train()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.2, foreach=cfg['foreach'])
batch = torch.randn(cfg['seq'], cfg['batch'], cfg['width'], device=device)


def step(x):
    loss = model(x).pow(2).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def sync():
    if device != 'cpu':
        torch.cuda.synchronize()


def timed(fn):
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return (time.perf_counter() - start) * 1000


def op_us():
    a = torch.ones(1)
    b = torch.ones(1)
    for _ in range(1000):
        torch.add(a, b)
    start = time.perf_counter()
    for _ in range(cfg['op_calls']):
        torch.add(a, b)
    return (time.perf_counter() - start) / cfg['op_calls'] * 1e6


def reply(value):
    sys.stdout.write(json.dumps(value) + '\n')
    sys.stdout.flush()


reply({'ready': True})
for line in sys.stdin:
    command = line.strip()
    if command == 'info':
        reply({'torch': torch.__version__, 'threads': torch.get_num_threads(),
               'parameters': sum(p.numel() for p in model.parameters())})
    elif command == 'step':
        reply({'ms': timed(lambda: step(batch))})
    elif command == 'op':
        reply({'us': op_us()})
    elif command == 'exit':
        break
    else:
        reply({'error': f'unknown command {command!r}'})

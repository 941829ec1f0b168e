# Writes TorchScript archives for torchscript-reader.test.ts into the folder given as argv[1]
# (run with Debian's PyTorch 1.13: `/usr/bin/python3 make_torchscript_cases.py DIR`):
#   clip_scripted.pt, clip_traced.pt: a tiny CLIP-like module (conv stem, multi-head attention blocks
#     in a Sequential, LayerNorm, parameters and buffers at the root, a non-contiguous parameter, a
#     plain tensor attribute, typed list/dict attributes, a None Optional[Tensor], tied weights),
#     scripted and traced, each with <name>.expected.pt: what torch.jit.load loads, as libtorch's
#     Module::named_parameters() then named_buffers() list it (every attribute path, tied weights under
#     each of their names, unlike Python's deduplicating named_parameters()), torch.save'd as one OrderedDict;
#   loop_setstate.pt, alloc_setstate.pt: modules whose __setstate__ loops forever or allocates 12 GB,
#     so torch.jit.load hangs or runs out of memory on them.
import collections
import sys
from typing import Dict, List, Optional, Tuple

import torch

out = sys.argv[1]
torch.manual_seed(0)


class Block(torch.nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(d, 2)
        self.ln_1 = torch.nn.LayerNorm(d)
        self.mlp = torch.nn.Sequential(collections.OrderedDict([
            ('c_fc', torch.nn.Linear(d, 2 * d)), ('gelu', torch.nn.GELU()), ('c_proj', torch.nn.Linear(2 * d, d))]))
        self.attn_mask = torch.zeros(4, 4)

    def forward(self, x):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=self.attn_mask)[0]
        return x + self.mlp(x)


class TinyClip(torch.nn.Module):
    def __init__(self):
        super().__init__()
        d = 8
        self.conv1 = torch.nn.Conv2d(3, d, 4, 4, bias=False)
        self.positional_embedding = torch.nn.Parameter(torch.randn(4, d))
        self.transformer = torch.nn.Sequential(*[Block(d) for _ in range(2)])
        self.ln_post = torch.nn.LayerNorm(d)
        self.proj = torch.nn.Parameter(torch.randn(6, d).t()[:, 1:5])  # non-contiguous
        self.logit_scale = torch.nn.Parameter(torch.ones([]))
        self.token_embedding = torch.nn.Embedding(10, d)
        self.head = torch.nn.Linear(d, 10, bias=False)
        self.head.weight = self.token_embedding.weight  # tied
        self.register_buffer('steps', torch.tensor(3, dtype=torch.int64))
        self.register_buffer('half_buffer', torch.arange(4, dtype=torch.float16))
        self.plain = torch.ones(3)
        self.sizes: List[int] = [1, 2, 3]
        self.names: Dict[str, int] = {'a': 1}
        self.maybe: Optional[torch.Tensor] = None
        self.pair: Tuple[int, float] = (1, 2.5)

    def forward(self, x):
        x = self.conv1(x).flatten(2).permute(2, 0, 1) + self.positional_embedding[:, None, :]
        x = self.ln_post(self.transformer(x)) @ self.proj
        return x * self.logit_scale + self.plain.sum() + self.half_buffer.float().sum() + self.head(self.token_embedding(torch.tensor([1]))).sum()


model = TinyClip().eval()
archives = {
    'clip_scripted': torch.jit.script(model),
    'clip_traced': torch.jit.trace(model, torch.randn(1, 3, 8, 8), check_trace=False),
}
for name, module in archives.items():
    path = f'{out}/{name}.pt'
    module.save(path)
    loaded = torch.jit.load(path)
    def walk(module, kind, prefix=''):
        # A scripted module's own slots come before its submodules'; None values are no tensors.
        for key, value in getattr(module, kind).items():
            if value is not None:
                yield prefix + key, value.detach()
        for key, child in module._modules.items():
            yield from walk(child, kind, f'{prefix}{key}.')
    expected = collections.OrderedDict(list(walk(loaded, '_parameters')) + list(walk(loaded, '_buffers')))
    torch.save(expected, f'{out}/{name}.expected.pt')


class LoopSetState(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2))

    def forward(self, x):
        return x * self.weight

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        i = 0
        while i >= 0:
            i = (i + 1) % 7
        self.weight = state[0]
        self.training = state[1]


class AllocSetState(LoopSetState):
    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        self.weight = state[0] + torch.zeros(3 * 1024 * 1024 * 1024).sum()
        self.training = state[1]


torch.jit.script(LoopSetState()).save(f'{out}/loop_setstate.pt')
torch.jit.script(AllocSetState()).save(f'{out}/alloc_setstate.pt')

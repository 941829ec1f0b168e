# Writes tiny_scripted.pt, a TorchScript archive for serialization.test.ts (run with PyTorch 1.13:
# `/usr/bin/python3 make_tiny_scripted.py`). Values are exact in binary so the test can compare exactly.
import torch


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 2)
        with torch.no_grad():
            self.proj.weight.copy_(torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.25 - 0.5)
            self.proj.bias.copy_(torch.tensor([0.125, -1.0]))
        self.register_buffer('scale', torch.tensor([0.5, 2.0]))

    def forward(self, x):
        return self.proj(x) * self.scale


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.embedding = torch.nn.Parameter(torch.arange(6, dtype=torch.float64).reshape(2, 3))
        self.register_buffer('steps', torch.tensor(7, dtype=torch.int64))

    def forward(self, x):
        return self.block(x) + self.embedding.sum().float()


torch.jit.script(Tiny()).save('tiny_scripted.pt')

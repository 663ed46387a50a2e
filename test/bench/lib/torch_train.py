#!/usr/bin/python3
"""PyTorch reference for `npm run bench -- train`: the same GPT-2-style recipe as attnlab's
Transformer (pre-LayerNorm, GELU tanh, causal softmax attention, learned or rotary positions,
untied-free tied embeddings, AdamW, global grad-norm clip 1), trained on random token batches.

Usage: torch_train.py '<json spec>'  ->  prints one JSON line {tokensPerSecond, msPerStep,
cpuTokensPerSecond (tokens per second of process CPU time: robust to a loaded machine), ...}.
Spec: {layers, d, heads, mlp, seq, batch, vocab, positional, threads, steps, warmup}.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, h, mlp, rotary):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, mlp)
        self.out = nn.Linear(mlp, d)
        self.rotary = rotary

    def forward(self, x, mask, cos, sin):
        B, N, D = x.shape
        dh = D // self.h
        qkv = self.attn(self.ln1(x)).view(B, N, 3, self.h, dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.rotary:
            q = rope(q, cos, sin)
            k = rope(k, cos, sin)
        s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(dh)) + mask
        z = torch.softmax(s, -1) @ v
        x = x + self.proj(z.transpose(1, 2).reshape(B, N, D))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate='tanh'))


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Model(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.wte = nn.Embedding(s['vocab'], s['d'])
        self.learned = s['positional'] == 'learned'
        if self.learned:
            self.wpe = nn.Embedding(s['seq'], s['d'])
        self.blocks = nn.ModuleList([Block(s['d'], s['heads'], s['mlp'], not self.learned) for _ in range(s['layers'])])
        self.lnf = nn.LayerNorm(s['d'])
        n = s['seq']
        self.register_buffer('mask', torch.full((n, n), float('-inf')).triu(1))
        dh = s['d'] // s['heads']
        inv = 10000.0 ** (-torch.arange(0, dh // 2, dtype=torch.float32) * 2 / dh)
        ang = torch.arange(n, dtype=torch.float32)[:, None] * inv[None, :]
        self.register_buffer('cos', torch.cat([ang.cos(), ang.cos()], -1))
        self.register_buffer('sin', torch.cat([ang.sin(), ang.sin()], -1))
        # GPT-2 initialisation, as attnlab's Transformer: N(0, 0.02), zero biases, unit norms.
        for name, p in self.named_parameters():
            if name.endswith('bias'):
                nn.init.zeros_(p)
            elif 'ln' in name:
                nn.init.ones_(p)
            else:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, tok):
        x = self.wte(tok)
        if self.learned:
            x = x + self.wpe(torch.arange(tok.shape[1]))
        for b in self.blocks:
            x = b(x, self.mask, self.cos, self.sin)
        return self.lnf(x) @ self.wte.weight.t()


def main():
    s = json.loads(sys.argv[1])
    torch.set_num_threads(s['threads'])
    torch.manual_seed(0)
    model = Model(s)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)

    def step():
        tok = torch.randint(0, s['vocab'], (s['batch'], s['seq']), generator=g)
        tgt = torch.randint(0, s['vocab'], (s['batch'], s['seq']), generator=g)
        loss = F.cross_entropy(model(tok).reshape(-1, s['vocab']), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(s['warmup']):
        step()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for _ in range(s['steps']):
        loss = step()
    sec = time.perf_counter() - t0
    cpu = time.process_time() - c0
    tokens = s['steps'] * s['batch'] * s['seq']
    print(json.dumps({
        'tokensPerSecond': tokens / sec, 'msPerStep': 1000 * sec / s['steps'],
        'cpuTokensPerSecond': tokens / cpu, 'finalLoss': loss,
        'threads': torch.get_num_threads(), 'torch': torch.__version__,
        'params': sum(p.numel() for p in model.parameters()),
    }))


if __name__ == '__main__':
    main()

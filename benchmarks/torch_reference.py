"""Pure-PyTorch eager ResNet-32 (+ projection head + cosine classifier) and the
multi-view loss used by ``bench_train_step.py`` as the speed reference.

Written for this benchmark from the architecture description of the CIFAR
ResNet-32 used by LDAM/BCL/BCCL (see ``keras_lt/backbones/resnet_cifar.py``):
3 stages x 5 basic blocks at 16/32/64 channels, option-A shortcuts.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2 if (stride != 1 or cin != cout) else None
        self.stride = stride

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.pad is None:
            short = x
        else:   # option A: subsample, zero-pad channels on both sides
            short = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + short)


class ResNet32(nn.Module):
    def __init__(self, num_classes=10, width=1, feat_dim=128, scale=1 / 0.03):
        super().__init__()
        w = [16 * width, 32 * width, 64 * width]
        self.conv1 = nn.Conv2d(3, 16 * width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16 * width)
        blocks, cin = [], 16 * width
        for i, c in enumerate(w):
            for j in range(5):
                blocks.append(Block(cin, c, 2 if (i > 0 and j == 0) else 1))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Linear(cin, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                                  nn.Linear(512, feat_dim))
        self.fc = nn.Parameter(torch.empty(cin, num_classes).uniform_(-1, 1))
        self.scale = scale
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        f = F.relu(self.bn1(self.conv1(x)))
        f = self.blocks(f)
        f = F.adaptive_avg_pool2d(f, 1).flatten(1)
        z = F.normalize(self.head(f), dim=1)
        logits = self.scale * F.normalize(f, dim=1) @ F.normalize(self.fc, dim=0)
        return z, logits


def multiview_loss(z, logits, labels, log_prior, num_views):
    """Logit-adjusted CE on every view's logits + a cosine alignment term
    between the views' projections (the same loss as the Keras side)."""
    y = labels.repeat(num_views)
    ce = F.cross_entropy(logits + log_prior, y)
    zs = z.chunk(num_views)
    align = sum((1 - (zs[0] * zs[v]).sum(1)).mean() for v in range(1, num_views)) / max(num_views - 1, 1)
    return ce + align


def make_step(model, lr=0.1, weight_decay=2e-4):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)

    def step(views, labels, log_prior):
        x = torch.cat(views, 0)
        z, logits = model(x)
        loss = multiview_loss(z, logits, labels, log_prior, len(views))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def count_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


if __name__ == "__main__":
    m = ResNet32()
    print("params", count_params(m), "encoder-ish", count_params(m) - 99968 - 640, math.pi)

"""Hand-written PyTorch twins of the shipped specs, for equivalence tests and benchmarks.

Each twin is what a person would write by hand for the same network; `copy_weights` copies a
compiled module's weights into it (state dicts in definition order, shapes checked).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Copy parameters and buffers in definition order; the two layouts must match one for one."""
    source_state, target_state = source.state_dict(), target.state_dict()
    assert len(source_state) == len(target_state), (list(source_state), list(target_state))
    copied = {}
    for (name, value), (target_name, target_value) in zip(source_state.items(), target_state.items()):
        shapes = f"{name} {tuple(value.shape)} vs {target_name} {tuple(target_value.shape)}"
        assert value.shape == target_value.shape, shapes
        copied[target_name] = value.clone()
    target.load_state_dict(copied)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.avg_pool2d(torch.tanh(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)


class MLP(nn.Module):
    def __init__(self, hidden: int = 128):
        super().__init__()
        self.fc1 = nn.Linear(64, hidden)
        self.drop = nn.Dropout(0.1)
        self.fc2 = nn.Linear(hidden, hidden // 2)
        self.fc3 = nn.Linear(hidden // 2, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.drop(F.relu(self.fc1(x)))
        return self.fc3(F.relu(self.fc2(x)))


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = self.drop(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


class BasicBlock(nn.Module):
    """torchvision-style basic block; `stride` > 1 or a channel change projects the shortcut."""

    def __init__(self, channels_in: int, channels: int, stride: int = 1, project: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(channels_in, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels))
            if project
            else None
        )

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (self.shortcut(x) if self.shortcut is not None else x))


class ResNetDigits(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 32, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(32)
        self.block1 = BasicBlock(32, 32)
        self.block2 = BasicBlock(32, 64, stride=2, project=True)
        self.block3 = BasicBlock(64, 64)
        self.block4 = BasicBlock(64, 128, stride=2, project=True)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.block4(self.block3(self.block2(self.block1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


TWINS = {
    "specs/lenet5.cram": (LeNet5, (1, 32, 32)),
    "specs/mlp.cram": (MLP, (1, 8, 8)),
    "specs/digits_cnn.cram": (DigitsCNN, (1, 8, 8)),
    "specs/resnet_digits.cram": (ResNetDigits, (1, 8, 8)),
}

"""The original BIKE data pipeline (PIL + torch, as datasets/transforms.py and Augmentation.py do it)
for 8-frame clips of a frame-folder list: the baseline `bench/data.ts` compares against.
Usage: data-baseline.py ROOT LIST TEMPLATE SECONDS  -> prints JSON {train_clips_per_s, val_clips_per_s}"""
import json, math, os, random, sys, time
import numpy as np
import torch
from PIL import Image, ImageOps

torch.set_num_threads(1)
root, list_file, template, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
T, SIZE, SCALE = 8, 224, 256
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
records = [line.split() for line in open(list_file) if line.strip()]

def load(path, n, train):
    if train:
        ticks = np.linspace(0, n - 1, T + 1)
        idx = [random.randint(int(round(ticks[i])), int(round(ticks[i + 1]))) for i in range(T)]
    else:
        idx = [int(x * n / T) for x in range(T)]
    return [Image.open(os.path.join(root, path, template.format(i + 1))).convert('RGB') for i in idx]

def scale(imgs):
    out = []
    for img in imgs:
        w, h = img.size
        if w < h: ow, oh = SCALE, int(SCALE * h / w)
        else: ow, oh = int(SCALE * w / h), SCALE
        out.append(img.resize((ow, oh), Image.BICUBIC))
    return out

def random_sized_crop(imgs):
    w0, h0 = imgs[0].size
    for _ in range(10):
        area = w0 * h0 * random.uniform(0.08, 1.0)
        aspect = random.uniform(3 / 4, 4 / 3)
        w, h = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if random.random() < 0.5: w, h = h, w
        if w <= w0 and h <= h0:
            x1, y1 = random.randint(0, w0 - w), random.randint(0, h0 - h)
            return [img.crop((x1, y1, x1 + w, y1 + h)).resize((SIZE, SIZE), Image.BILINEAR) for img in imgs]
    return [img.resize((SIZE, SIZE), Image.BILINEAR) for img in imgs]

def to_tensor(imgs):
    stacked = np.concatenate([np.array(img) for img in imgs], axis=2)
    t = torch.from_numpy(stacked).permute(2, 0, 1).contiguous().float().div(255)
    mean = torch.tensor(MEAN * T).view(-1, 1, 1)
    std = torch.tensor(STD * T).view(-1, 1, 1)
    return t.sub_(mean).div_(std)

def train_clip(rec):
    imgs = random_sized_crop(scale(load(rec[0], int(rec[1]), True)))
    if random.random() < 0.5: imgs = [img.transpose(Image.FLIP_LEFT_RIGHT) for img in imgs]
    if random.random() < 0.2: imgs = [img.convert('L').convert('RGB') for img in imgs]
    return to_tensor(imgs)

def val_clip(rec):
    imgs = scale(load(rec[0], int(rec[1]), False))
    w, h = imgs[0].size
    x1, y1 = int(round((w - SIZE) / 2.0)), int(round((h - SIZE) / 2.0))
    return to_tensor([img.crop((x1, y1, x1 + SIZE, y1 + SIZE)) for img in imgs])

def rate(fn):
    fn(records[0])
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(records[count % len(records)]); count += 1
    return count / (time.perf_counter() - start)

print(json.dumps({'train_clips_per_s': rate(train_clip), 'val_clips_per_s': rate(val_clip)}))

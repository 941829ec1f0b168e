"""PyAV decoding the same sampled frames of each video as bench/data.ts: the video baseline.
Usage: video-baseline.py JSON_JOBS SECONDS, jobs = [[path, [frame, ...]], ...] -> {"clips_per_s": x}"""
import json, sys, time
import av

jobs, seconds = json.load(open(sys.argv[1])), float(sys.argv[2])

def decode(path, frames):
    wanted, out = set(frames), {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted: out[i] = frame.to_ndarray(format='rgb24')
            if i >= max(frames): break
    return [out[f] for f in frames]

decode(*jobs[0])
count, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    decode(*jobs[count % len(jobs)]); count += 1
print(json.dumps({'clips_per_s': count / (time.perf_counter() - start)}))

"""Watch a trained policy: play a few episodes from a checkpoint, print returns, write a video.

    python experiments/rollout.py runs/figure5-quick/iam_seed0            # latest checkpoint
    python experiments/rollout.py runs/atari/iam_attention_seed0/checkpoint_000003 \\
        --episodes 2 --out pong.mp4 --frames 1000

CHECKPOINT is a grid trial folder (its latest checkpoint is used), one of its
``checkpoint_*`` folders, or an RLModule checkpoint; the env comes from the module itself.
The recurrent state is carried from step to step and reset at each episode, as in training.
Atari is played as it is evaluated (whole games, unclipped score, flicker kept); the video
shows the emulator's screen beside the frame the agent saw, with `iam_attention`'s weights in
red. Warehouse and Traffic are drawn as their envs render them (``render_mode="rgb_array"``).
Prints one line per episode and the mean.
"""

from __future__ import annotations

import argparse
import os
import sys

try:
    from rllib_iam.cli import OneLineParser
except ModuleNotFoundError as err:  # not the project's environment: say how to get it
    sys.exit(f"{sys.argv[0]}: error: {err}; use the project's .venv (`make test` creates it): "
             f"`source .venv/bin/activate`, or `.venv/bin/python {sys.argv[0]} ...`")

VIDEO_SUFFIXES = (".gif", ".mp4")


def count(least: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}, got {text!r}")
        return value

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        description=__doc__.splitlines()[0], epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", help="trial folder, checkpoint_* folder or RLModule folder")
    parser.add_argument("--episodes", type=count(1), default=3, help="episodes to play (3)")
    parser.add_argument("--seed", type=count(0), default=0, help="first env seed; also actions")
    parser.add_argument("--greedy", action="store_true", help="argmax actions, not sampled")
    parser.add_argument("--max-steps", type=count(1), help="cut each episode after this many")
    parser.add_argument("--out", default="rollout.gif", help=".gif or .mp4 (rollout.gif)")
    parser.add_argument("--frames", type=count(0), default=300,
                        help="steps drawn, from the first episode on (300); 0: no video")
    parser.add_argument("--fps", type=count(1), default=15, help="video frames per second (15)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out file (refused otherwise)")
    args = parser.parse_args(argv)
    if args.frames and not args.out.endswith(VIDEO_SUFFIXES):
        parser.error(f"--out must end in {' or '.join(VIDEO_SUFFIXES)}, got {args.out!r}")
    if args.frames and os.path.exists(args.out) and not args.overwrite:
        parser.error(f"{args.out} already exists; pass --overwrite to replace it, or another "
                     "--out")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)  # before the heavy imports: bad input fails at once
    import torch

    from rllib_iam.rollout import RolloutError, load_module, rollout, write_video

    torch.set_num_threads(1)  # one step of one env: more threads only wait on each other
    try:
        module = load_module(args.checkpoint)
        episodes = rollout(
            module,
            episodes=args.episodes,
            seed=args.seed,
            greedy=args.greedy,
            max_steps=args.max_steps,
            max_frames=args.frames,
        )
    except RolloutError as err:
        print(f"rollout.py: error: {err}", file=sys.stderr)
        return 2
    env_id = module.model_config["env_id"]
    print(f"{module.NAME} on {env_id}, {'greedy' if args.greedy else 'sampled'} actions")
    for k, episode in enumerate(episodes):
        cut = "" if episode.finished else f" (cut at {episode.steps} steps)"
        print(f"episode {k}: return {episode.ret:g} in {episode.steps} steps{cut}")
    mean = sum(e.ret for e in episodes) / len(episodes)
    print(f"mean return over {len(episodes)} episodes: {mean:g}")
    frames = [f for e in episodes for f in e.frames]
    if frames:
        print(f"wrote {write_video(frames, args.out, args.fps)} ({len(frames)} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Settings of the end-to-end demo, validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class DemoConfig(BaseModel):
    """Sizes are small on purpose: the whole demo has to finish in minutes on 2 CPU cores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minutes: float = Field(10.0, gt=0, le=600, description="training time budget")
    # 30 clips of 41 frames cost about what 40 of 17 did to render and annotate, and give 25 windows each:
    # with one window per clip the model memorised each scene's camera path instead of reading the motion
    # (held-out RPE rotation 2.0 deg against 1.6 deg, static camera 1.5 deg).
    train_clips: int = Field(30, ge=1, le=1000)
    clip_frames: int = Field(41, ge=9, le=400, description="frames per training clip; training draws windows "
                             "of `frames` frames from them")
    # with 3 held-out clips the spread between clips was larger than the model's lead on several metrics
    heldout_clips: int = Field(12, ge=1, le=100)
    frames: int = Field(17, ge=9, le=41, description="frames the model takes and held-out clips have (8m+1: 9, "
                        "17, 25, 33, 41)")
    height: int = Field(64, ge=32, le=480, description="model height, a multiple of 16")
    width: int = Field(96, ge=32, le=720, description="model width, a multiple of 16")
    fps: float = Field(12.0, gt=0)
    render_scale: int = Field(2, ge=1, le=8, description="clips are rendered this many times larger than the "
                              "model size: annotation needs enough SIFT features; training and tasks resize")
    seed: int = Field(0, ge=0, description="training clips use seeds SEED.., held-out clips SEED+100000..")
    # A model trained for minutes samples best with few steps and no CFG (measured on held-out clips after
    # 1500 steps: PSNR 15.3 dB with 20 steps at CFG 3.0, 16.4 at CFG 1.0, 16.8 with 4 steps at CFG 1.0).
    sample_steps: int = Field(4, ge=1, le=100, description="denoising steps for prediction and planning")
    guidance: float = Field(1.0, ge=0, description="CFG weight for prediction and planning; <= 1 turns CFG off")
    annotate: bool = Field(True, description="train on annotated cameras (False: the renderer's exact ones)")
    progress: bool = True

    @field_validator("frames")
    @classmethod
    def _eight_m_plus_one(cls, frames: int) -> int:
        # one model pass takes an odd number of latent frames (see aether.tasks.pipeline.FRAME_STEP)
        if (frames - 1) % 8:
            raise ValueError(f"frames must be 8m+1 (9, 17, 25, 33, 41), got {frames}")
        return frames

    @field_validator("height", "width")
    @classmethod
    def _multiple_of_16(cls, size: int) -> int:
        # /8 to latents, then the backbone's 2x2 patches
        if size % 16:
            raise ValueError(f"height and width must be multiples of 16, got {size}")
        return size

    @model_validator(mode="after")
    def _windows_fit(self) -> "DemoConfig":
        if self.clip_frames < self.frames:
            raise ValueError(f"clip_frames ({self.clip_frames}) must be at least frames ({self.frames}): "
                             "training draws windows of `frames` frames from each clip")
        return self

    @property
    def heldout_seed(self) -> int:
        return self.seed + 100_000

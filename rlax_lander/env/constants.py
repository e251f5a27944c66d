"""Constants of Gymnasium's Box2D ``LunarLander-v3``, in metres, kilograms, seconds, radians.

Names follow ``../shared/reference/lunar_lander_v3.md``; pixel quantities are divided by
``SCALE`` once, here. Nothing else in ``rlax_lander.env`` writes a number of the original inline.
"""

import math

import numpy as np

# --- module-level constants of the original (pixels unless stated) --------------------------------
FPS = 50
DT = 1.0 / FPS  # s, one Box2D step per env step
SCALE = 30.0  # pixels per metre
MAIN_ENGINE_POWER = 13.0
SIDE_ENGINE_POWER = 0.6
INITIAL_RANDOM = 1000.0  # N, half-range of the initial force per axis
LEG_AWAY = 20.0
LEG_DOWN = 18.0
LEG_W = 2.0  # half-width, px
LEG_H = 8.0  # half-height, px
LEG_SPRING_TORQUE = 40.0  # N m, max motor torque of the leg joints
SIDE_ENGINE_HEIGHT = 14.0
SIDE_ENGINE_AWAY = 12.0
MAIN_ENGINE_Y_LOCATION = 4.0
VIEWPORT_W = 600
VIEWPORT_H = 400
CHUNKS = 11

W = VIEWPORT_W / SCALE  # 20 m
H = VIEWPORT_H / SCALE  # 13.333 m
TERRAIN_X = np.linspace(0.0, W, CHUNKS).astype(np.float32)  # [11] sample abscissae, m
HELIPAD_X1 = float(TERRAIN_X[CHUNKS // 2 - 1])  # 8 m
HELIPAD_X2 = float(TERRAIN_X[CHUNKS // 2 + 1])  # 12 m
HELIPAD_Y = H / 4.0  # 3.333 m
TERRAIN_SMOOTHING = 0.33  # not 1/3: the original's literal
NUM_EDGES = CHUNKS - 1  # 10 terrain edges; edge index NUM_EDGES is the flat bottom edge y = 0

# --- bodies -----------------------------------------------------------------------------------------
LANDER_POLY = np.array(
    [(-14, 17), (-17, 0), (-17, -10), (17, -10), (17, 0), (14, 17)], dtype=np.float32
) / SCALE  # [6, 2] hull outline relative to the hull origin, m
HULL_DENSITY = 5.0
HULL_MASS = 4.816667  # kg
HULL_COM = np.array([0.0, 0.101307], dtype=np.float32)  # local centre of mass, m
HULL_INERTIA = 0.783881  # kg m^2 about the COM
LEG_DENSITY = 1.0
LEG_HALF_EXTENTS = np.array([LEG_W / SCALE, LEG_H / SCALE], dtype=np.float32)  # (0.0667, 0.2667) m
LEG_MASS = 0.0711111  # kg
LEG_INERTIA = 0.00179094  # kg m^2 about its centre

# legs[0] is created with i = -1 and hangs on the +x side; legs[1] (i = +1) on the -x side.
LEG_SIGN = np.array([-1.0, 1.0], dtype=np.float32)  # the loop variable i of the original
LEG_ANCHOR = np.stack(
    [LEG_SIGN * LEG_AWAY / SCALE, np.full(2, LEG_DOWN / SCALE)], axis=-1
).astype(np.float32)  # [2, 2] joint point in each leg's frame, m
LEG_REFERENCE_ANGLE = LEG_SIGN * 0.05  # pybox2d's silently injected referenceAngle, rad
LEG_JOINT_LOWER = np.array([0.4, -0.9], dtype=np.float32)  # joint-angle limits, rad
LEG_JOINT_UPPER = np.array([0.9, -0.4], dtype=np.float32)
LEG_MOTOR_SPEED = np.array([-0.3, 0.3], dtype=np.float32)  # rad/s
# Limits on the physical relative angle phi = theta_leg - theta_hull = joint angle + reference.
LEG_PHI_LOWER = LEG_JOINT_LOWER + LEG_REFERENCE_ANGLE  # [0.35, -0.85]
LEG_PHI_UPPER = LEG_JOINT_UPPER + LEG_REFERENCE_ANGLE  # [0.85, -0.35]

# --- materials (friction mixes as sqrt(f1 f2); restitution is 0 for all bodies that matter) -----------
HULL_FRICTION = 0.1
LEG_FRICTION = 0.2  # Box2D's default: gymnasium never sets it
TERRAIN_FRICTION = 0.1
BOTTOM_EDGE_FRICTION = 0.2

# --- Box2D 2.3 settings -------------------------------------------------------------------------------
LINEAR_SLOP = 0.005
POLYGON_RADIUS = 2.0 * LINEAR_SLOP  # skin of every polygon and edge, m
CONTACT_DISTANCE = 2.0 * POLYGON_RADIUS  # core gap below which a contact is touching, m
TOI_TARGET = max(LINEAR_SLOP, CONTACT_DISTANCE - 3.0 * LINEAR_SLOP)  # 0.005 m, b2TimeOfImpact's target
TOI_TOLERANCE = 0.25 * LINEAR_SLOP  # b2TimeOfImpact accepts a distance below target + tolerance
ANGULAR_SLOP = 2.0 / 180.0 * math.pi
MAX_LINEAR_CORRECTION = 0.2
MAX_ANGULAR_CORRECTION = 8.0 / 180.0 * math.pi
BAUMGARTE = 0.2
MAX_TRANSLATION = 2.0  # m per step
MAX_ROTATION = 0.5 * math.pi  # rad per step
LINEAR_SLEEP_TOLERANCE = 0.01
ANGULAR_SLEEP_TOLERANCE = 2.0 / 180.0 * math.pi
BOX2D_VELOCITY_ITERATIONS = 180  # LunarLander's world.Step(1 / FPS, 180, 60)
SLEEP_STEPS = 25  # 0.5 s of float32-accumulated 0.02 s steps reaches 0.5 on the 25th step

# --- defaults of the constructor / registration --------------------------------------------------------
GRAVITY = -10.0
WIND_POWER = 15.0
TURBULENCE_POWER = 1.5
MAX_EPISODE_STEPS = 1000

# --- observation ----------------------------------------------------------------------------------------
OBS_LOW = np.array([-2.5, -2.5, -10.0, -10.0, -2 * math.pi, -10.0, 0.0, 0.0], dtype=np.float32)
OBS_HIGH = np.array([2.5, 2.5, 10.0, 10.0, 2 * math.pi, 10.0, 1.0, 1.0], dtype=np.float32)

# --- engines (section 6.2-6.5) ------------------------------------------------------------------------
SIDE_ENGINE_X_QUIRK = 17.0  # px, the literal 17 in the side-engine application point's x term (not 14)
DISPERSION = 1.0 / SCALE  # m, half-range of each per-step dispersion draw U(-1, 1) / SCALE
MAIN_DISPERSION_FACTOR = 2.0  # main-engine nozzle offset is MAIN_ENGINE_Y_LOCATION / SCALE + 2 d0
SIDE_DISPERSION_FACTOR = 3.0  # side-engine lateral offset is 3 d1 + direction * SIDE_ENGINE_AWAY / SCALE
SIDE_ENGINE_THRESHOLD = 0.5  # continuous: side engine fires iff |a1| > 0.5 (strict)
MIN_THROTTLE = 0.5  # continuous throttles live in (0.5, 1]
NUM_DISCRETE_ACTIONS = 4  # 0 noop, 1 side engine direction -1, 2 main engine, 3 side engine direction +1

# --- reward (section 6.8) -------------------------------------------------------------------------------
SHAPING_DISTANCE = 100.0  # weight of -|(s0, s1)|
SHAPING_SPEED = 100.0  # weight of -|(s2, s3)|
SHAPING_ANGLE = 100.0  # weight of -|s4|
SHAPING_LEG = 10.0  # bonus per leg contact flag
MAIN_ENGINE_FUEL = 0.30  # reward cost per unit of m_power
SIDE_ENGINE_FUEL = 0.03  # reward cost per unit of s_power
CRASH_REWARD = -100.0  # game_over or |s0| >= 1
LANDED_REWARD = 100.0  # hull not awake; wins over CRASH_REWARD
OUT_OF_BOUNDS_X = 1.0  # terminate when |s0| >= 1 (x = 0 or 20 m)

# --- observation scales (section 6.7) -----------------------------------------------------------------
OBS_ANG_VEL_SCALE = 20.0  # s5 = 20 * omega / FPS
OBS_Y_REFERENCE = HELIPAD_Y + LEG_DOWN / SCALE  # 3.9333 m: hull origin height where s1 = 0

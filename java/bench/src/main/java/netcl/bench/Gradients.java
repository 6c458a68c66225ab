package netcl.bench;

/**
 * The gradients every benchmark harness steps, the same in all of them (netcl-bench, the Java
 * harnesses, scripts/bench-peers/torch_rmsprop.py): two fixed sets that alternate. Step k
 * (counting from 0) takes {@code EVEN * (1 + i % 7)} as the gradient of float i of the list
 * when k is even and {@code ODD * (1 + i % 7)}, its negation, when k is odd. Both sets are
 * filled before anything is timed; a harness points its step at one or the other (a field, an
 * address), so the timed steps neither write gradients nor allocate.
 *
 * <p>Why not one constant gradient, as the harnesses stepped before: centered RMSProp then takes
 * the square root of {@code v - g_avg^2}, the difference of two numbers that converge to the
 * same {@code g^2}; it shrinks to rounding noise, turns negative and makes the parameters of the
 * largest of the seven values NaN after about 1,200 steps (a float simulation), so a benchmark
 * timed a diverged optimizer; and every variant drifts its parameters linearly. With
 * {@code +g, -g, +g, ...}, {@code v} tends to {@code g^2} while {@code g_avg} oscillates around
 * 0 (0.01 / 1.99 |g| in the limit), so {@code g_avg^2} is never more than 1% of {@code v} (at
 * the first step) and {@code v - g_avg^2} stays near {@code v}; the parameters and momentum
 * buffers stay bounded. A float and a double simulation of 10^7 steps of every variant (lr
 * 1e-3, alpha 0.99, momentum 0.9; gradients 1e-3, 4e-3 and 7e-3) moved no parameter more
 * than 0.062 from its start, kept the momentum buffer within 10.1 in magnitude, and made
 * nothing NaN.
 */
final class Gradients {
    /** The factor of the even steps' gradients. */
    static final float EVEN = 1e-3f;
    /** The factor of the odd steps' gradients. */
    static final float ODD = -EVEN;

    private Gradients() {
    }
}

package netcl.demo;

import java.util.SplittableRandom;

/**
 * The random streams the demo draws from its one seed. Each purpose gets its own independent
 * generator (a {@link SplittableRandom#split()} child), so that, say, a different epoch count
 * leaves the split and the initial weights unchanged, and both training runs see the same draws.
 */
enum RandomStream {
    SPLIT, INIT, ORDER;

    SplittableRandom from(long seed) {
        SplittableRandom root = new SplittableRandom(seed);
        SplittableRandom stream = root.split();
        for (int i = 0; i < ordinal(); i++) {
            stream = root.split();
        }
        return stream;
    }
}

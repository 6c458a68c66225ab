package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * Adding parameter groups one at a time costs memory in proportion to the parameters, not to
 * their square: 3,000 single-parameter groups once took 484 MiB.
 */
class ParamGroupMemoryTest {
    static final int GROUPS = 3_000;
    /** 3.5 KiB per group measured, step state included; the quadratic growth was 165 KiB per group. */
    static final long LIMIT_BYTES = 32L << 20;

    @Test
    void manyGroupsGrowMemoryLinearly() {
        // A small, pre-touched heap keeps the Java heap's share of the resident set constant.
        long growth = Long.parseLong(ChildJvm.run(Child.class,
                List.of("-Xms96m", "-Xmx96m", "-XX:+AlwaysPreTouch", "-XX:+UseSerialGC")).verdict("growth"));
        System.out.printf("%,d groups added: resident set grew by %.1f MiB%n", GROUPS, growth / 1048576.0);
        assertTrue(growth < LIMIT_BYTES, GROUPS + " groups grew the resident set by " + growth + " bytes");
    }

    /** Adds the groups and prints the growth of the resident set. */
    public static final class Child {
        public static void main(String[] args) {
            try (Arena arena = Arena.ofShared()) {
                MemorySegment data = Tensors.allocate(arena, 4L * (GROUPS + 1));
                MemorySegment grads = Tensors.allocate(arena, 4L * (GROUPS + 1));
                try (RMSProp opt = RMSProp.builder().build(List.of(parameter(data, grads, 0)))) {
                    opt.step();
                    long before = ChildJvm.residentBytes();
                    for (int g = 1; g <= GROUPS; g++) {
                        opt.addParamGroup(ParamGroup.of(List.of(parameter(data, grads, g))));
                    }
                    opt.step();
                    System.out.println("growth " + (ChildJvm.residentBytes() - before));
                }
            }
        }

        private static Parameter parameter(MemorySegment data, MemorySegment grads, int index) {
            return Parameter.wrap(data.asSlice(16L * index, 16), grads.asSlice(16L * index, 16));
        }
    }
}

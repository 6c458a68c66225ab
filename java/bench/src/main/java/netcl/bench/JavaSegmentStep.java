package netcl.bench;

import java.lang.foreign.Arena;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The plain-Java peer on the memory netcl steps: the same slices of zero-copy blocks as
 * {@link NetclStep}, stepped by a loop over {@code MemorySegment}s on one thread and split over
 * all cores. What netcl must beat when the user's tensors are already off-heap. Each invocation
 * is one step, on the gradients of {@link Gradients}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 10, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class JavaSegmentStep {
    @Param({"1024", "65536", "16777216", Sizes.RESNET50})
    public String size;

    private Arena arena;
    private Block data;
    private Block evenGrad;
    private Block oddGrad;
    /** The gradients of the next step: evenGrad or oddGrad. */
    private Block grad;
    private Block squareAvg;
    private Chunks chunks;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        long[] numels = Sizes.of(size);
        data = Block.allocate(arena, numels, 0.5f);
        evenGrad = Block.allocate(arena, numels, Gradients.EVEN);
        oddGrad = Block.allocate(arena, numels, Gradients.ODD);
        grad = evenGrad;
        squareAvg = Block.allocate(arena, numels, 0f);
        chunks = new Chunks(numels);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        boolean finite = data.allFinite();
        arena.close();
        if (!finite) {
            throw Contender.diverged("JavaSegmentStep");
        }
    }

    @Benchmark
    public void serial() {
        chunks.forEachSerial(this::update);
        stepDone();
    }

    @Benchmark
    public void parallel() {
        chunks.forEachParallel(this::update);
        stepDone();
    }

    /** The next step takes the other gradients. */
    private void stepDone() {
        grad = grad == evenGrad ? oddGrad : evenGrad;
    }

    private void update(int t, long from, long to) {
        RmsPropLoops.plain(data.slices[t], grad.slices[t], squareAvg.slices[t], from, to);
    }
}

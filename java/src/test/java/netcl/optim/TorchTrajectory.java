package netcl.optim;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A PyTorch RMSprop trajectory written by scripts/generate-torch-trajectories (format described
 * there): hyperparameters, the initial parameter, per step the lr, the gradient (or none) and the
 * parameter after the step, and PyTorch's final state.
 */
record TorchTrajectory(String name, int numel, boolean centered, boolean maximize, double alpha, double eps,
                       double weightDecay, double momentum, float[] initial, List<Step> steps, long finalStep,
                       float[] squareAvg, float[] momentumBuffer, float[] gradAvg) {

    record Step(double lr, float[] grad, float[] after) {
    }

    static Path directory() {
        return Path.of(System.getProperty("netcl.root", "."), "native", "tests", "data", "torch");
    }

    static List<String> names() throws IOException {
        return Files.readAllLines(directory().resolve("index.txt")).stream().filter(s -> !s.isBlank()).toList();
    }

    static TorchTrajectory load(String name) throws IOException {
        ByteBuffer in = ByteBuffer.wrap(Files.readAllBytes(directory().resolve(name))).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[4];
        in.get(magic);
        if (!new String(magic, java.nio.charset.StandardCharsets.US_ASCII).equals("NCTJ") || in.getInt() != 1) {
            throw new IOException(name + ": not a version 1 trajectory");
        }
        int numel = in.getInt();
        int steps = in.getInt();
        boolean centered = in.getInt() != 0;
        boolean maximize = in.getInt() != 0;
        double alpha = in.getDouble();
        double eps = in.getDouble();
        double weightDecay = in.getDouble();
        double momentum = in.getDouble();
        float[] initial = floats(in, numel);
        List<Step> list = new ArrayList<>();
        for (int s = 0; s < steps; s++) {
            double lr = in.getDouble();
            boolean hasGrad = in.getInt() != 0;
            float[] grad = hasGrad ? floats(in, numel) : null;
            list.add(new Step(lr, grad, floats(in, numel)));
        }
        long finalStep = in.getLong();
        float[] squareAvg = floats(in, numel);
        float[] momentumBuffer = momentum > 0 ? floats(in, numel) : null;
        float[] gradAvg = centered ? floats(in, numel) : null;
        if (in.hasRemaining()) {
            throw new IOException(name + ": trailing bytes");
        }
        return new TorchTrajectory(name, numel, centered, maximize, alpha, eps, weightDecay, momentum, initial,
                List.copyOf(list), finalStep, squareAvg, momentumBuffer, gradAvg);
    }

    private static float[] floats(ByteBuffer in, int n) {
        float[] out = new float[n];
        in.asFloatBuffer().get(out);
        in.position(in.position() + n * Float.BYTES);
        return out;
    }

    /** A group with this trajectory's hyperparameters (lr set per step). */
    ParamGroup group(List<Parameter> params) {
        return ParamGroup.of(params).alpha(alpha).eps(eps).weightDecay(weightDecay).momentum(momentum)
                .centered(centered).maximize(maximize).lr(steps.get(0).lr());
    }
}

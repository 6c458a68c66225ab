package netcl.consumer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import netcl.optim.Parameter;
import netcl.optim.RMSProp;
import netcl.optim.Tensors;

/**
 * A netcl user's program: one RMSProp step on the default device, compared with the update
 * computed here in double precision. It says whether netcl came from the module path (the named
 * module netcl) or the class path, and exits with status 1 when the step is wrong.
 */
public final class Consumer {
    private Consumer() {
    }

    public static void main(String[] args) {
        float[] param = {1f, -2f, 0.5f, 3f};
        float[] grad = {0.5f, -1f, 2f, 0f};
        double lr = 1e-2, alpha = 0.99, eps = 1e-8;
        boolean ok = true;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = Tensors.of(arena, param), dw = Tensors.of(arena, grad);
            List<Parameter> params = List.of(Parameter.wrap(w, dw));
            try (RMSProp opt = RMSProp.builder().lr(lr).alpha(alpha).eps(eps).build(params)) {
                opt.step();
            }
            for (int i = 0; i < param.length; i++) {
                double squareAvg = (1 - alpha) * grad[i] * grad[i];  // the first step: it starts at 0
                double expected = param[i] - lr * grad[i] / (Math.sqrt(squareAvg) + eps);
                float actual = w.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                if (Math.abs(actual - expected) > 1e-6 * Math.abs(expected)) {
                    System.err.printf("consumer: param[%d] is %s after the step, expected %s%n",
                            i, actual, expected);
                    ok = false;
                }
            }
        }
        if (!ok) {
            System.exit(1);
        }
        Module netcl = RMSProp.class.getModule();
        String from = netcl.isNamed() ? "module path (module " + netcl.getName() + ")" : "class path";
        System.out.println("consumer: netcl from the " + from + ", one RMSProp step as expected");
    }
}

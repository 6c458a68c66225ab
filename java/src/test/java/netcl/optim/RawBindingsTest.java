package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import netcl.bindings.Netcl;
import netcl.bindings.netcl_param_group;
import netcl.bindings.netcl_tensor;

/** The jextract-generated functions called directly: one step of one tensor, by hand. */
class RawBindingsTest {

    @Test
    void generatedFunctionsWork() {
        NativeLibrary.load();
        assertEquals("0.1.0", NetclException.cString(Netcl.netcl_version()));
        assertEquals("NETCL_STATE_MISMATCH", NetclException.cString(Netcl.netcl_status_name(Netcl.NETCL_STATE_MISMATCH())));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(ValueLayout.JAVA_INT);
            assertEquals(0, Netcl.netcl_device_count(count));
            assertTrue(count.get(ValueLayout.JAVA_INT, 0) >= 1);

            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            assertEquals(0, Netcl.netcl_context_create(MemorySegment.NULL, out));
            MemorySegment context = out.get(ValueLayout.ADDRESS, 0);
            assertEquals(0, Netcl.netcl_rmsprop_create(context, out));
            MemorySegment optimizer = out.get(ValueLayout.ADDRESS, 0);

            MemorySegment data = Tensors.of(arena, 1.0f);
            MemorySegment grad = Tensors.of(arena, 1.0f);
            MemorySegment tensor = netcl_tensor.allocate(arena);
            netcl_tensor.data(tensor, data);
            netcl_tensor.grad(tensor, grad);
            netcl_tensor.numel(tensor, 1);
            MemorySegment group = netcl_param_group.allocate(arena);
            netcl_param_group.lr(group, 0.01);
            netcl_param_group.alpha(group, 0.99);
            netcl_param_group.eps(group, 1e-8);
            netcl_param_group.count(group, 1);
            assertEquals(0, Netcl.netcl_rmsprop_step(optimizer, group, 1, tensor, 1));
            // By hand, in float: v = 0.01, avg = sqrt(v) + 1e-8 = 0.1, p = 1 - 0.01 / 0.1
            float avg = (float) Math.sqrt((float) (1 - 0.99)) + 1e-8f;
            assertEquals(1.0f + (-0.01f * 1.0f) / avg, data.get(ValueLayout.JAVA_FLOAT, 0));

            netcl_tensor.numel(tensor, 0);
            assertEquals(Netcl.NETCL_INVALID_ARGUMENT(), Netcl.netcl_rmsprop_step(optimizer, group, 1, tensor, 1));
            assertEquals("tensor 0: invalid numel 0", NetclException.cString(Netcl.netcl_last_error()));
            Netcl.netcl_rmsprop_destroy(optimizer);
            Netcl.netcl_context_destroy(context);
        }
    }
}

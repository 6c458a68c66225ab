package netcl.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Loading: overrides that fail are errors that name what was tried. */
class NativeLibraryTest {

    @Test
    void failedPropertyOverrideNamesThePath() {
        UnsatisfiedLinkError e = assertThrows(UnsatisfiedLinkError.class,
                () -> NativeLibrary.load("/nonexistent/libnetcl.so", null, NativeLibrary.platform()));
        assertTrue(e.getMessage().contains("-Dnetcl.library=/nonexistent/libnetcl.so"), e.getMessage());
    }

    @Test
    void failedEnvironmentOverrideNamesTheVariable() {
        UnsatisfiedLinkError e = assertThrows(UnsatisfiedLinkError.class,
                () -> NativeLibrary.load(null, "/nowhere/libnetcl.so", NativeLibrary.platform()));
        assertTrue(e.getMessage().contains("NETCL_LIBRARY=/nowhere/libnetcl.so"), e.getMessage());
    }

    @Test
    void unknownPlatformListsEveryPlaceTried() {
        UnsatisfiedLinkError e = assertThrows(UnsatisfiedLinkError.class,
                () -> NativeLibrary.load(null, null, "plan9-mips"));
        assertTrue(e.getMessage().contains("bundled /netcl/native/plan9-mips/libnetcl.so: not in the jar"), e.getMessage());
        assertTrue(e.getMessage().contains("java.library.path"), e.getMessage());
    }

    @Test
    void thisPlatformIsLinuxX8664() {
        assertEquals("linux-x86_64", NativeLibrary.platform());
    }
}

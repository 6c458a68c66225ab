package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A file opened through the C library (FFM downcalls), for the two things {@link
 * java.nio.channels.FileChannel} cannot do: start the writeback of written pages without waiting
 * for it ({@code sync_file_range}), so the disk writes while the next bytes are copied, and hold
 * a {@code flock} lock, which, unlike FileChannel's {@code fcntl} locks, belongs to this open file
 * alone: closing another descriptor of the file in the same process does not drop it, and a
 * second open of it in the same process conflicts with it.
 */
final class PosixFile implements AutoCloseable {
    // Linux's values on x86-64, the platform netcl's jar carries a library for (O_NOFOLLOW differs on ARM).
    private static final int O_RDONLY = 0;
    private static final int O_WRONLY = 01;
    private static final int O_CREAT = 0100;
    private static final int O_EXCL = 0200;
    private static final int O_NOFOLLOW = 0400000;
    private static final int O_CLOEXEC = 02000000;
    /** New files get the permissions a plain new file gets: 0666 less the umask. */
    private static final int NEW_FILE_MODE = 0666;
    private static final int LOCK_EX = 2;
    private static final int LOCK_NB = 4;
    private static final int SYNC_FILE_RANGE_WRITE = 2;
    private static final int ENOENT = 2;
    private static final int EINTR = 4;
    private static final int EWOULDBLOCK = 11;
    private static final int EEXIST = 17;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    /** open is variadic from its mode on: the C calling convention needs to know. */
    private static final MethodHandle OPEN = function("open",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle PWRITE = function("pwrite", FunctionDescriptor.of(ValueLayout.JAVA_LONG,
            ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
    private static final MethodHandle SYNC_FILE_RANGE = function("sync_file_range", FunctionDescriptor.of(
            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    private static final MethodHandle FSYNC = function("fsync",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle FLOCK = function("flock",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle CLOSE = function("close",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(symbol("strerror"), FunctionDescriptor.of(
            ValueLayout.ADDRESS.withTargetLayout(MemoryLayout.sequenceLayout(1024, ValueLayout.JAVA_BYTE)),
            ValueLayout.JAVA_INT));

    private final Path path;
    private final int fd;
    private boolean closed;

    private PosixFile(Path path, int fd) {
        this.path = path;
        this.fd = fd;
    }

    private static MemorySegment symbol(String name) {
        return LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsupportedOperationException("the C library has no " + name));
    }

    /** A downcall that records errno, its first argument the call state. */
    private static MethodHandle function(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        Linker.Option[] all = Arrays.copyOf(options, options.length + 1);
        all[options.length] = Linker.Option.captureCallState("errno");
        return LINKER.downcallHandle(symbol(name), descriptor, all);
    }

    Path path() {
        return path;
    }

    /** Creates {@code path}, which must not exist yet, for writing. */
    static PosixFile create(Path path) throws IOException {
        return open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, "creating");
    }

    /** Opens an existing {@code path} (not a symbolic link) for reading. */
    static PosixFile openExisting(Path path) throws IOException {
        return open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, "opening");
    }

    private static PosixFile open(Path path, int flags, String what) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocateFrom(path.toString());
            long fd = run(state -> (int) OPEN.invokeExact(state, name, flags, NEW_FILE_MODE));
            return new PosixFile(path, (int) checked(fd, what, path));
        }
    }

    /** Writes all of {@code bytes} (native memory) at {@code position} of the file. */
    void write(MemorySegment bytes, long position) throws IOException {
        for (long done = 0; done < bytes.byteSize(); ) {
            MemorySegment rest = bytes.asSlice(done);
            long at = position + done;
            long n = checked(run(state -> (long) PWRITE.invokeExact(state, fd, rest, rest.byteSize(), at)),
                    "writing", path);
            if (n == 0) {
                throw new IOException("writing " + path + " failed: the file system took no bytes");
            }
            done += n;
        }
    }

    /**
     * Starts writing bytes {@code position .. position + length - 1} to the disk, without waiting.
     * Only a head start: where it fails (a file system or sandbox without it), {@link #sync}
     * still writes everything and reports any error.
     */
    void startWriteback(long position, long length) {
        run(state -> (int) SYNC_FILE_RANGE.invokeExact(state, fd, position, length, SYNC_FILE_RANGE_WRITE));
    }

    /** Waits until the file's data and metadata are on the disk. */
    void sync() throws IOException {
        checked(run(state -> (int) FSYNC.invokeExact(state, fd)), "syncing", path);
    }

    /**
     * Takes the exclusive flock lock, waiting for it if {@code wait}; otherwise returns false at
     * once when another open file holds it.
     */
    boolean lock(boolean wait) throws IOException {
        long result = run(state -> (int) FLOCK.invokeExact(state, fd, LOCK_EX | (wait ? 0 : LOCK_NB)));
        if (!wait && result == -EWOULDBLOCK) {
            return false;
        }
        checked(result, "locking", path);
        return true;
    }

    /** Closes the file, which releases its lock. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            // Never again after EINTR: Linux has released the descriptor, which may be reused already.
            if ((int) CLOSE.invokeExact(state, fd) != 0 && errno(state) != EINTR) {
                throw failure("closing", path, errno(state));
            }
        } catch (IOException | RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);  // the handle's signature throws nothing else
        }
    }

    /** A C call that returns -1 and sets errno when it fails. */
    @FunctionalInterface
    private interface Call {
        long invoke(MemorySegment callState) throws Throwable;
    }

    /** Runs {@code call} again while a signal interrupts it (EINTR); returns its result, or minus errno. */
    private static long run(Call call) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = arena.allocate(CALL_STATE);
            while (true) {
                long result = call.invoke(state);
                if (result >= 0) {
                    return result;
                }
                if (errno(state) != EINTR) {
                    return -errno(state);
                }
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);  // the handles' signatures throw nothing else
        }
    }

    private static long checked(long result, String what, Path path) throws IOException {
        if (result < 0) {
            throw failure(what, path, (int) -result);
        }
        return result;
    }

    private static int errno(MemorySegment state) {
        return (int) ERRNO.get(state, 0L);
    }

    private static IOException failure(String what, Path path, int errno) {
        String reason;
        try {
            reason = ((MemorySegment) STRERROR.invokeExact(errno)).getString(0);
        } catch (Throwable t) {
            reason = "errno " + errno;
        }
        return switch (errno) {
            case EEXIST -> new FileAlreadyExistsException(path.toString(), null, what + " failed: " + reason);
            case ENOENT -> new NoSuchFileException(path.toString(), null, what + " failed: " + reason);
            default -> new IOException(what + " " + path + " failed: " + reason);
        };
    }
}

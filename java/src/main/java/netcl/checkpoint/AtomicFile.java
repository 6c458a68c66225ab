package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Replaces a file so that a crash at any moment leaves either the complete old file or the
 * complete new one: the new content goes to a temporary file in the same folder (so the rename
 * stays within one file system), is flushed and fsynced, renamed over the target, and the folder
 * is fsynced so the rename itself survives a power loss.
 */
final class AtomicFile {
    /** Writes the new content into the mapped temporary file. */
    interface Writer {
        void write(MemorySegment file) throws IOException;
    }

    private AtomicFile() {
    }

    static void write(Path target, long size, Writer writer) throws IOException {
        Path absolute = target.toAbsolutePath();
        Path folder = absolute.getParent();
        Path temporary = createTemporary(folder, absolute.getFileName().toString());
        boolean renamed = false;
        try {
            try (FileChannel channel = FileChannel.open(temporary, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                try (Arena arena = Arena.ofConfined()) {
                    // Mapping past the end grows the file to its final size.
                    MemorySegment mapping = channel.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
                    writer.write(mapping);
                    mapping.force();
                }
                channel.force(true);
            }
            Files.move(temporary, absolute, StandardCopyOption.ATOMIC_MOVE);
            renamed = true;
            try (FileChannel dir = FileChannel.open(folder, StandardOpenOption.READ)) {
                dir.force(true);
            }
        } finally {
            if (!renamed) {
                Files.deleteIfExists(temporary);
            }
        }
    }

    /** A new file {@code .<name>.<random>.tmp}, with the permissions a plain new file gets. */
    private static Path createTemporary(Path folder, String name) throws IOException {
        while (true) {
            Path candidate = folder.resolve("." + name + "." + Long.toHexString(ThreadLocalRandom.current().nextLong())
                    + ".tmp");
            try {
                return Files.createFile(candidate);
            } catch (FileAlreadyExistsException e) {
                // Another writer's name: draw again.
            }
        }
    }
}

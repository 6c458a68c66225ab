package netcl.checkpoint;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * Replaces a file so that a crash at any moment leaves either the complete old file or the
 * complete new one: the new content goes to a temporary file in the same folder (so the rename
 * stays within one file system), is fsynced, renamed over the target, and the folder is fsynced
 * so the rename itself survives a power loss.
 *
 * <p>A saver holds a {@code flock} lock on its temporary file {@code .NAME.<16 hex digits>.tmp}
 * from creating it until the rename. A process that dies frees its locks, so a temporary file
 * that nobody holds is a dead save's leftover: each save first removes those of its target,
 * never one that a live saver, in this process or another, is writing.
 */
final class AtomicFile {
    /** Writes the new content, from its first byte to its last. */
    interface Writer {
        void write(FileAppender file) throws IOException;
    }

    private static final Pattern TEMPORARY_SUFFIX = Pattern.compile("\\.[0-9a-f]{16}\\.tmp");

    private AtomicFile() {
    }

    static void write(Path target, Writer writer) throws IOException {
        Path absolute = target.toAbsolutePath();
        Path folder = absolute.getParent();
        String name = absolute.getFileName().toString();
        removeLeftovers(folder, name);
        try (PosixFile file = createTemporary(folder, name)) {
            boolean renamed = false;
            try (Arena arena = Arena.ofConfined()) {
                FileAppender appender = new FileAppender(file, arena);
                writer.write(appender);
                appender.finish();
                Files.move(file.path(), absolute, StandardCopyOption.ATOMIC_MOVE);
                renamed = true;
            } finally {
                if (!renamed) {
                    Files.deleteIfExists(file.path());  // still locked: no cleanup of another save races us
                }
            }
        }
        try (FileChannel dir = FileChannel.open(folder, StandardOpenOption.READ)) {
            dir.force(true);
        }
    }

    /**
     * A new, locked temporary file. A save that removes leftovers may lock and delete the file
     * between its creation and our lock; then it is gone once we hold the lock, and we draw again.
     */
    private static PosixFile createTemporary(Path folder, String name) throws IOException {
        while (true) {
            Path candidate = folder.resolve(temporaryName(name));
            PosixFile file;
            try {
                file = PosixFile.create(candidate);
            } catch (FileAlreadyExistsException e) {
                continue;  // another writer's name: draw again
            }
            boolean ours = false;
            try {
                file.lock(true);
                ours = Files.exists(candidate, LinkOption.NOFOLLOW_LINKS);
            } finally {
                if (!ours) {
                    file.close();  // unlocked, a file left here is a leftover the next save removes
                }
            }
            if (ours) {
                return file;
            }
        }
    }

    private static String temporaryName(String name) {
        return "." + name + "." + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + ".tmp";
    }

    /**
     * Deletes the temporary files of {@code name} that no live save holds. Best effort: a
     * leftover that cannot be listed, opened or locked stays, and the save goes on.
     */
    private static void removeLeftovers(Path folder, String name) {
        String prefix = "." + name;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(folder, entry -> {
            String n = entry.getFileName().toString();
            return n.startsWith(prefix) && TEMPORARY_SUFFIX.matcher(n.substring(prefix.length())).matches();
        })) {
            for (Path leftover : entries) {
                try (PosixFile file = PosixFile.openExisting(leftover)) {
                    if (file.lock(false)) {
                        Files.deleteIfExists(leftover);
                    }
                } catch (IOException e) {
                    // gone meanwhile (its saver renamed it, or another save removed it), or not ours to open
                }
            }
        } catch (IOException e) {
            // a folder we may write but not list: its leftovers stay
        }
    }
}

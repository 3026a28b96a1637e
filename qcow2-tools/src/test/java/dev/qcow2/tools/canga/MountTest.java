package dev.qcow2.tools.canga;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qcow2.testing.Qemu;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * canga mount and umount through guestmount: an image read-only, an instance writable. Needs
 * libguestfs and FUSE.
 */
@Tag("slow")
class MountTest {
  @TempDir Path dir;

  @Test
  void mountsAnImageReadOnlyAndAnInstanceWritable() throws Exception {
    Canga canga = new Canga(dir);
    canga.config("");
    Path tree = Files.createDirectories(dir.resolve("tree/etc"));
    Files.writeString(tree.resolve("hello"), "hello from the image\n");
    Qemu.run(dir, "truncate", "-s", "64M", "fs.raw");
    Qemu.run(dir, "mkfs.ext4", "-q", "-F", "-d", dir.resolve("tree").toString(), "fs.raw");
    canga.ok("add", dir.resolve("fs.raw").toString(), "--tag", "fs");
    Path mnt = Files.createDirectories(dir.resolve("mnt"));
    canga.ok("mount", "fs", mnt.toString());
    try {
      assertEquals("hello from the image\n", Files.readString(mnt.resolve("etc/hello")));
    } finally {
      canga.ok("umount", mnt.toString());
    }
    canga.ok("instance", "create", "fs", "--name", "box");
    canga.ok("mount", "box", mnt.toString());
    try {
      Files.writeString(mnt.resolve("etc/new"), "written in the instance\n");
    } finally {
      canga.ok("umount", mnt.toString());
    }
    // guestunmount returns before the qemu behind guestmount has flushed and gone: wait for it.
    Path instance = Path.of(canga.ok("instance", "path", "box").stdout().trim());
    for (int i = 0;
        i < 100
            && Qemu.exec(dir, java.util.List.of("qemu-img", "check", instance.toString()))
                    .exitCode()
                != 0;
        i++) {
      Thread.sleep(200);
    }
    // Read back without a third appliance launch: the instance as raw, the file by debugfs.
    Qemu.img(dir, "convert", "-O", "raw", instance.toString(), "box.raw");
    Qemu.Result cat = Qemu.exec(dir, java.util.List.of("debugfs", "-R", "cat /etc/new", "box.raw"));
    assertEquals(0, cat.exitCode(), cat.stderr());
    assertEquals("written in the instance\n", cat.stdout());
  }
}

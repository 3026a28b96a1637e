package dev.qcow2.tools.canga;

import dev.qcow2.tools.cangafile.GuestCustomizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;

/**
 * {@code canga check_system}: what {@code build} needs from the host. qemu-img is no longer needed
 * (canga is native), so the checks are libguestfs's: a kernel in /boot readable by the user,
 * virt-customize 1.30 or newer, and whether KVM is usable (else TCG, slower). Unlike Cangallo every
 * check runs; exit status 255 if one failed.
 */
@Command(
    name = "check_system",
    aliases = "check-system",
    description = "check system configuration")
final class CheckSystemCommand extends CangaCommand {
  private static final Pattern VERSION =
      Pattern.compile("(?m)^virt-customize (\\d+)\\.(\\d+)\\.(\\d+).*$");

  @Override
  int run() throws Exception {
    PrintStream err = err();
    boolean problem = false;
    if (!readableKernel(Path.of("/boot"))) {
      problem = true;
      err.print(
          """
          libguestfs needs a kernel to boot it's qemu appliance. There is no kernel
          in your /boot directory readable by your kernel. Change the permissions of
          at least one kernel in that directory to be readable by the current user.

          """);
    }
    int[] version = virtCustomizeVersion();
    if (version == null) {
      problem = true;
      err.print("Could not get virt-customize version. Is libguestfs installed?\n\n");
    } else if (version[0] < 1 || version[0] == 1 && version[1] < 30) {
      problem = true;
      err.print(
          "libguestfs 1.30.0 or newer is needed (canga uses virt-customize --commands-from-file).\n\n");
    }
    if (!GuestCustomizer.kvmUsable()) {
      err.print(
          "KVM is not usable (/dev/kvm): libguestfs will run with LIBGUESTFS_BACKEND_SETTINGS=force_tcg,\n"
              + "which works but is slower.\n\n");
    }
    if (problem) {
      err.print(
          """
          There is at least one problem in your system. You can go this page to
          get more information on how to fix it:

          https://canga.io/install/

          """);
    }
    err.print(
        """
        It's also a good idea to execute libguestfs test tool:

            $ libguestfs-test-tool

        """);
    return problem ? HANDLED_ERROR : 0;
  }

  static boolean readableKernel(Path boot) {
    try (DirectoryStream<Path> kernels = Files.newDirectoryStream(boot, "vmlinuz*")) {
      for (Path k : kernels) {
        if (Files.isReadable(k)) {
          return true;
        }
      }
    } catch (IOException e) {
      return false;
    }
    return false;
  }

  private static int[] virtCustomizeVersion() {
    try {
      Process p =
          new ProcessBuilder("virt-customize", "--version").redirectErrorStream(true).start();
      p.getOutputStream().close();
      String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      p.waitFor();
      Matcher m = VERSION.matcher(text);
      if (!m.find()) {
        return null;
      }
      return new int[] {
        Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3))
      };
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }
}

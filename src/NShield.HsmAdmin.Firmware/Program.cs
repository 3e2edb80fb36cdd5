// nshield-sim-firmware: the simulated nShield 5s module firmware. sshd runs it as the forced command of each endpoint.
// Thin on purpose: everything lives in NShield.HsmAdmin.Firmware.FirmwareMain (engine) so the InProcess transport shares it.
// With --owner-watch it is instead the watcher that stops a simulator once the process that started it is gone (OwnerWatch).
if (args.Length > 0 && args[0] == NShield.HsmAdmin.Simulation.OwnerWatch.Verb) return NShield.HsmAdmin.Simulation.OwnerWatch.Run(args);
return NShield.HsmAdmin.Firmware.FirmwareMain.Run(args, System.Console.OpenStandardInput(), System.Console.OpenStandardOutput());

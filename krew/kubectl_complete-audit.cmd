@echo off
rem kubectl_complete-audit: kubectl (1.26 or later) runs this, when it is on
rem the PATH, to complete "kubectl audit ..." on the command line. It asks the
rem plugin itself (cobra's __complete), preferring the kubectl-audit.exe next to it.
if exist "%~dp0kubectl-audit.exe" (
  "%~dp0kubectl-audit.exe" __complete %*
) else (
  kubectl-audit.exe __complete %*
)
